"""kopf's settings for braid: state that stays small, retries that never give up, peering.

- kopf decides between "create", "update" and "nothing changed" by comparing a graph with the
  *diff base* it stored after the last handling. Its stock storage keeps the whole spec in an
  annotation, and annotations are capped at 256 KiB in total: a large graph could then never be
  handled (nor deleted, while a finalizer stood). :class:`DigestDiffBaseStorage` keeps a
  SHA-256 of it instead, 71 characters whatever the spec's size; braid's handlers are
  level-triggered and never look at the diff.
- Every API request kopf makes (watches, peering keep-alives, its progress annotations) is
  retried on 5xx, 403, 429 and connection errors with a doubling delay, capped and without end
  (:class:`Backoffs`): kopf's default gives up after nine tries (about 85 s), and a peering
  keep-alive that gives up stops the operator's whole machinery while the process stays up.
- braid posts its own Events (``From: braid``); kopf posts none.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import kopf

from braid.operator._settings import OperatorSettings

PREFIX = "braid.dev"
#: The annotation that holds the digest of the last handled spec and metadata.
DIGEST_KEY = "last-handled-digest"
#: The annotation of earlier braid versions that held the whole last handled configuration.
LEGACY_KEY = f"{PREFIX}/last-handled-configuration"


@dataclass(frozen=True)
class Backoffs:
    """An endless, re-iterable sequence of delays: ``first``, doubling, at most ``most``."""

    first: float
    most: float

    def __iter__(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield min(delay, self.most)
            delay *= 2


def digest(essence: object) -> str:
    text = json.dumps(essence, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class DigestDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """A diff base that stores a digest of the essence, not the essence itself.

    ``fetch`` answers with the current essence when the digest matches (nothing changed) and with
    a stand-in that differs from it otherwise (something changed); None when nothing was stored
    (a new graph, or one handled by an earlier braid), which kopf handles as a creation.
    """

    def __init__(self) -> None:
        super().__init__(prefix=PREFIX, key=DIGEST_KEY, v1=False)

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        stored = body.metadata.annotations.get(f"{PREFIX}/{DIGEST_KEY}")
        if stored is None:
            return None
        current = self.build(body=body)
        if stored == digest(current):
            return current
        return cast(kopf.BodyEssence, {"metadata": {"annotations": {DIGEST_KEY: stored}}})

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        patch.metadata.annotations[f"{PREFIX}/{DIGEST_KEY}"] = digest(essence)
        if LEGACY_KEY in body.metadata.annotations:
            patch.metadata.annotations[LEGACY_KEY] = None

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        essence = super().build(body=body, extra_fields=extra_fields)
        annotations = essence.get("metadata", {}).get("annotations")
        if isinstance(annotations, dict):
            annotations.pop(LEGACY_KEY, None)
        self.remove_empty_stanzas(essence)
        return essence


def configure(settings: kopf.OperatorSettings, ours: OperatorSettings) -> None:
    """Set kopf's settings for braid (a startup handler calls this)."""
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = DigestDiffBaseStorage()
    settings.networking.error_backoffs = Backoffs(ours.backoff_seconds, ours.backoff_max_seconds)
    settings.posting.enabled = False
    settings.peering.priority = ours.priority
    settings.peering.mandatory = ours.peering_name is not None
    settings.peering.lifetime = ours.peering_lifetime_seconds
    if ours.peering_name is not None:
        settings.peering.name = ours.peering_name
    settings.execution.max_workers = 4
