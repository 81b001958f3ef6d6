"""Discovery against the emulated API: real EndpointSlice shapes, changes during the watch,
expiry and relist, timeouts and bookmarks, and an API server restart (issue 17).

The slices are what the EndpointSlice controller writes for the Services the operator renders
for examples/chain (see endpointslice_emulator.controller_slice).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from endpointslice_emulator import (
    GRAPH,
    INGRESS_PORTS,
    NODE_PORTS,
    Clock,
    EndpointSliceApi,
    StartDiscovery,
    controller_slice,
    eventually,
)

READY = {"ready": True, "serving": True, "terminating": False}
DRAINING = {"ready": False, "serving": True, "terminating": True}
STOPPED = {"ready": False, "serving": False, "terminating": True}
NOT_READY = {"ready": False, "serving": False, "terminating": False}
LOGGER = "braid.runtime._discovery.endpointslices"

SliceOf = Callable[[str, str, Mapping[str, Mapping[str, bool]]], dict[str, Any]]


@pytest.fixture
def slice_of(services: dict[str, dict[str, Any]]) -> SliceOf:
    """The slice ``<graph>-<node>-<suffix>`` of a node's Service, with ``{ip: conditions}``."""

    def build(
        node: str, suffix: str, endpoints: Mapping[str, Mapping[str, bool]]
    ) -> dict[str, Any]:
        return controller_slice(services[f"{GRAPH}-{node}"], suffix, endpoints, NODE_PORTS)

    return build


def _watches_after_the_first_list(api: EndpointSliceApi) -> list[tuple[str, str]]:
    return api.requests_to_slices()[1:]


async def test_the_graphs_node_slices_are_listed_then_followed(
    api: EndpointSliceApi,
    start_discovery: StartDiscovery,
    slice_of: SliceOf,
    services: dict[str, dict[str, Any]],
) -> None:
    api.put(slice_of("adder", "a1", {"10.0.0.1": READY}))
    api.put(slice_of("adder", "a2", {"10.0.0.2": READY, "10.0.0.9": NOT_READY}))
    api.put(slice_of("multiplier", "m1", {"10.0.1.1": READY}))
    # The ingress's slice has the graph's label and a port named grpc too, but is no node's.
    api.put(
        controller_slice(services[f"{GRAPH}-ingress"], "i1", {"10.0.2.1": READY}, INGRESS_PORTS)
    )
    other = controller_slice(services[f"{GRAPH}-adder"], "x1", {"10.9.0.1": READY}, NODE_PORTS)
    other["metadata"]["labels"]["braid.dev/graph"] = "other"
    other["metadata"]["name"] = "other-adder-x1"
    api.put(other)

    discovery = await start_discovery()
    assert discovery.replicas("adder") == ("10.0.0.1:7000", "10.0.0.2:7000")
    assert discovery.replicas("multiplier") == ("10.0.1.1:7000",)
    assert discovery.replicas("ingress") == ()

    api.put(slice_of("adder", "a3", {"10.0.0.3": READY}))  # ADDED
    api.put(slice_of("adder", "a1", {"10.0.0.1": NOT_READY}))  # MODIFIED
    api.delete(f"{GRAPH}-adder-a2")  # DELETED
    await eventually(lambda: discovery.replicas("adder") == ("10.0.0.3:7000",))
    assert discovery.replicas("multiplier") == ("10.0.1.1:7000",)
    # One list and one watch from its version: no relist. Plain HTTP carries no token.
    assert [action for action, _ in api.requests_to_slices()] == ["list", "watch"]
    assert all("Authorization" not in request.headers for request in api)


async def test_a_nodes_only_pod_is_routed_to_while_it_drains_until_a_new_one_is_ready(
    api: EndpointSliceApi, start_discovery: StartDiscovery, slice_of: SliceOf
) -> None:
    api.put(slice_of("multiplier", "m1", {"10.0.1.1": READY}))
    discovery = await start_discovery()
    assert discovery.replicas("multiplier") == ("10.0.1.1:7000",)

    # kubectl delete pod: the pod terminates but serves through its preStop sleep and drain.
    api.put(slice_of("multiplier", "m1", {"10.0.1.1": DRAINING}))
    # Its replacement shows up not ready, in another slice of the same Service.
    version = api.put(slice_of("multiplier", "m2", {"10.0.1.2": NOT_READY}))
    await eventually(lambda: discovery._version == str(version))
    assert discovery.replicas("multiplier") == ("10.0.1.1:7000",)

    api.put(slice_of("multiplier", "m2", {"10.0.1.2": READY}))
    await eventually(lambda: discovery.replicas("multiplier") == ("10.0.1.2:7000",))
    # The old pod exits: its endpoint leaves the slice.
    version = api.put(slice_of("multiplier", "m1", {}))
    await eventually(lambda: discovery._version == str(version))
    assert discovery.replicas("multiplier") == ("10.0.1.2:7000",)


@pytest.mark.parametrize("as_response", [False, True], ids=["error-event", "410-response"])
async def test_an_expired_watch_relists_at_once_and_quietly(
    api: EndpointSliceApi,
    start_discovery: StartDiscovery,
    slice_of: SliceOf,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    as_response: bool,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    api.put(slice_of("adder", "a1", {"10.0.0.1": READY}))
    api.put(slice_of("adder", "a2", {"10.0.0.2": READY}))
    api.put(slice_of("multiplier", "m1", {"10.0.1.1": READY}))
    discovery = await start_discovery()
    listed_at = discovery._version

    # Changes the watch never sees: the history is compacted before they are sent.
    api.delete(f"{GRAPH}-adder-a2")
    api.delete(f"{GRAPH}-multiplier-m1")
    api.put(slice_of("multiplier", "m2", {"10.0.1.2": READY}))
    api.compact(as_response=as_response)

    await eventually(lambda: discovery.replicas("multiplier") == ("10.0.1.2:7000",))
    assert discovery.replicas("adder") == ("10.0.0.1:7000",)
    requests = api.requests_to_slices()
    relist = requests.index(("list", ""), 1)
    assert requests[1:relist] == [("watch", listed_at)] * (2 if as_response else 1)
    assert clock.delays == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_watch_that_times_out_resumes_from_its_last_version_bookmarks_included(
    api: EndpointSliceApi, start_discovery: StartDiscovery, slice_of: SliceOf, clock: Clock
) -> None:
    api.put(slice_of("adder", "a1", {"10.0.0.1": READY}))
    discovery = await start_discovery()
    listed_at = discovery._version
    other = slice_of("adder", "x1", {"10.9.0.1": READY})
    other["metadata"]["labels"]["braid.dev/graph"] = "other"
    api.put(other)  # another graph's change: its version moves on, the selector hides it
    bookmarked_at = str(api.bookmark())
    api.end_watches()  # timeoutSeconds elapsed

    await eventually(lambda: len(api.requests_to_slices()) == 3)
    assert api.requests_to_slices() == [
        ("list", ""),
        ("watch", listed_at),
        ("watch", bookmarked_at),
    ]
    api.put(slice_of("adder", "a2", {"10.0.0.2": READY}))
    await eventually(lambda: discovery.replicas("adder") == ("10.0.0.1:7000", "10.0.0.2:7000"))
    assert clock.delays == []


async def test_an_api_server_restart_is_ridden_through_keeping_the_last_peers(
    api: EndpointSliceApi,
    start_discovery: StartDiscovery,
    slice_of: SliceOf,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    api.put(slice_of("adder", "a1", {"10.0.0.1": READY}))
    api.put(slice_of("multiplier", "m1", {"10.0.1.1": READY}))
    discovery = await start_discovery()
    before = {"adder": ("10.0.0.1:7000",), "multiplier": ("10.0.1.1:7000",)}
    listed_at = discovery._version

    api.outage(requests=3)  # the watch breaks off, then three answers of 503
    api.put(slice_of("adder", "a2", {"10.0.0.2": READY}))  # a change while it is down

    await eventually(lambda: discovery.replicas("adder") == ("10.0.0.1:7000", "10.0.0.2:7000"))
    # Backoff doubling from 0.5 s, the last known peers kept all along, no relist needed.
    assert clock.delays == [0.5, 1.0, 2.0, 4.0]
    assert clock.peers_meanwhile == [before] * 4
    assert api.requests_to_slices() == [("list", "")] + [("watch", listed_at)] * 5
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "keeping the last known peers" in warnings[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records)
    assert any("is back" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)


async def test_watches_that_end_at_once_again_and_again_back_off(
    api: EndpointSliceApi, start_discovery: StartDiscovery, slice_of: SliceOf, clock: Clock
) -> None:
    api.put(slice_of("adder", "a1", {"10.0.0.1": READY}))
    await start_discovery()
    api.end_watches_at_once = True
    api.end_watches()
    await eventually(lambda: len(clock.delays) >= 4)
    # The first empty end is a quiet timeout; the following ones are a proxy closing watches.
    assert clock.delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert {action for action, _ in api.requests_to_slices()[1:]} == {"watch"}
