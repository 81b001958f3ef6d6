"""The scratch space of :func:`braid.runtime.run`: a temporary folder, and built manifests.

``run()`` takes manifest paths and graphs declared in Python (:class:`braid.authoring.Graph`).
A graph is built here and its manifest written *beside its code* (in the folder of the module
that declared it, as a hidden ``.braid-<name>-*.yaml`` file), because ``braid run`` imports a
manifest's node code from the manifest's folder. :meth:`Workdir.cleanup` removes those files
with the temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from braid.authoring import Graph


class Workdir:
    """A temporary folder for ``braid run``'s status file, and the manifests built for it."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="braid-app-")
        self.name = self._folder.name
        self._written: list[Path] = []

    def manifests(self, graphs: Sequence[str | Path | Graph]) -> list[str]:
        """A manifest path for each graph; cleans up and raises if a graph does not build."""
        try:
            return [self._manifest(graph) for graph in graphs]
        except BaseException:
            self.cleanup()
            raise

    def _manifest(self, graph: str | Path | Graph) -> str:
        if not isinstance(graph, Graph):
            return str(graph)
        text = graph.to_yaml()  # raises BuildInvalid, naming the source lines
        folder = graph.code_dir or Path.cwd()
        handle, name = tempfile.mkstemp(prefix=f".braid-{graph.name}-", suffix=".yaml", dir=folder)
        self._written.append(Path(name))
        with os.fdopen(handle, "w") as file:
            file.write(text)
        return name

    def cleanup(self) -> None:
        for path in self._written:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self._written.clear()
        self._folder.cleanup()
