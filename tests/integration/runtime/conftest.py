"""Fixtures of the edge's integration tests: the layouts that ``braid run`` lays replicas out in.

Every module that runs graphs through a shared launch runs twice: in the process layout (the
default, one process per replica) and in the pod layout (a sidecar and a worker per replica, as
in a Kubernetes pod), so that what runs on Kubernetes is what the tests run.
"""

from __future__ import annotations

import pytest

LAYOUTS = ["process", "pod"]


@pytest.fixture(scope="module", params=LAYOUTS)
def layout(request: pytest.FixtureRequest) -> str:
    return str(request.param)
