"""Nodes that report the version of `six` they import: each may run in an environment of its own."""

from __future__ import annotations

import sys

import six


class Old:
    def version(self, _: object) -> dict[str, str]:
        return {"old": six.__version__, "old_python": sys.prefix}


class New:
    def version(self, found: dict[str, str]) -> dict[str, str]:
        return {**found, "new": six.__version__, "new_python": sys.prefix}


class Shared:
    def version(self, found: dict[str, str]) -> dict[str, str]:
        return {**found, "shared": six.__version__, "shared_python": sys.prefix}
