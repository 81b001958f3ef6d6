"""kopf's state storage (a digest, never the spec) and its endless API retries."""

from __future__ import annotations

import itertools

import kopf

from braid.operator import OperatorSettings
from braid.operator._configuring import (
    LEGACY_KEY,
    Backoffs,
    DigestDiffBaseStorage,
    configure,
    digest,
)


def body(spec: dict[str, object], annotations: dict[str, str] | None = None) -> kopf.Body:
    raw = {
        "apiVersion": "braid.dev/v1alpha1",
        "kind": "DeploymentGraph",
        "metadata": {"name": "g", "namespace": "ns", "annotations": annotations or {}},
        "spec": spec,
    }
    return kopf.Body(raw)  # type: ignore[arg-type]


def test_backoffs_never_end_and_are_capped() -> None:
    backoffs = Backoffs(1.0, 30.0)
    assert list(itertools.islice(backoffs, 8)) == [1, 2, 4, 8, 16, 30, 30, 30]
    assert list(itertools.islice(backoffs, 2)) == [1, 2]  # a fresh start each time


def test_the_stored_diff_base_is_a_digest_whatever_the_spec_size() -> None:
    storage = DigestDiffBaseStorage()
    big = body({"blob": "x" * 500_000}, {LEGACY_KEY: "{...}"})
    patch = kopf.Patch()
    storage.store(body=big, patch=patch, essence=storage.build(body=big))
    annotations = patch["metadata"]["annotations"]
    stored = annotations["braid.dev/last-handled-digest"]
    assert stored.startswith("sha256:") and len(stored) == 71
    assert annotations[LEGACY_KEY] is None  # the old full copy is removed


def test_fetch_tells_changed_from_unchanged() -> None:
    storage = DigestDiffBaseStorage()
    first = body({"replicas": 1})
    key = "braid.dev/last-handled-digest"
    same = body({"replicas": 1}, {key: digest(storage.build(body=first))})
    assert storage.fetch(body=same) == storage.build(body=same)
    changed = body({"replicas": 2}, {key: digest(storage.build(body=first))})
    assert storage.fetch(body=changed) != storage.build(body=changed)
    assert storage.fetch(body=first) is None  # nothing stored: a creation


def test_configure_sets_braids_kopf_settings() -> None:
    settings = kopf.OperatorSettings()
    ours = OperatorSettings(peering_name="braid", priority=7)
    configure(settings, ours)
    assert isinstance(settings.persistence.diffbase_storage, DigestDiffBaseStorage)
    assert isinstance(settings.networking.error_backoffs, Backoffs)
    assert settings.posting.enabled is False  # braid posts its own Events
    assert settings.peering.lifetime == 15  # failover in about 15 s, not kopf's 60
    assert (settings.peering.name, settings.peering.priority) == ("braid", 7)
