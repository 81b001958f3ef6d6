"""Which endpoints of a node's EndpointSlices are routed to (the pure part of the watch).

The slices have the shape the EndpointSlice controller writes for braid's headless Services:
the Service's labels copied, ``kubernetes.io/service-name``, one port named ``grpc``, and per
endpoint the conditions ``ready``, ``serving`` and ``terminating``. The watch itself runs against
the emulated API in tests/integration/discovery.
"""

from __future__ import annotations

from typing import Any

from braid.runtime._discovery.endpointslices import (
    ClusterAccess,
    KubernetesDiscovery,
    routable_peers,
    slice_endpoints,
)

READY = {"ready": True, "serving": True, "terminating": False}
#: A pod being deleted, in its preStop sleep or drain: still answering.
DRAINING = {"ready": False, "serving": True, "terminating": True}
#: A pod being deleted that no longer passes readiness: gone for routing.
STOPPED = {"ready": False, "serving": False, "terminating": True}
NOT_READY = {"ready": False, "serving": False, "terminating": False}


def _slice(
    name: str, node: str, endpoints: dict[str, dict[str, Any]], address_type: str = "IPv4"
) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/service-name": f"g-{node}",
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                "service.kubernetes.io/headless": "",
                "app.kubernetes.io/managed-by": "braid",
                "braid.dev/graph": "g",
                "braid.dev/component": "node",
                "braid.dev/node": node,
            },
        },
        "addressType": address_type,
        "ports": [{"name": "grpc", "port": 7000, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [address], "conditions": conditions}
            for address, conditions in endpoints.items()
        ],
    }


def _peers(*slices: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    return routable_peers(slice_endpoints(s, "g") for s in slices)


def test_ready_endpoints_are_used_and_terminating_ones_dropped_while_any_is_ready() -> None:
    endpoint_slice = _slice(
        "g-adder-abc",
        "adder",
        {"10.0.0.1": READY, "10.0.0.2": NOT_READY, "10.0.0.3": DRAINING, "10.0.0.4": STOPPED},
    )
    assert _peers(endpoint_slice) == {"adder": ("10.0.0.1:7000",)}


def test_a_nodes_only_pod_keeps_serving_while_it_terminates() -> None:
    # Issue 17: deleting a node's only pod gave seconds of 503s while the pod still served.
    endpoint_slice = _slice("g-adder-abc", "adder", {"10.0.0.3": DRAINING})
    assert _peers(endpoint_slice) == {"adder": ("10.0.0.3:7000",)}


def test_endpoints_that_do_not_serve_are_never_used() -> None:
    endpoint_slice = _slice("g-adder-abc", "adder", {"10.0.0.2": NOT_READY, "10.0.0.4": STOPPED})
    assert _peers(endpoint_slice) == {"adder": ()}


def test_the_fallback_to_serving_endpoints_is_decided_over_all_slices_of_a_node() -> None:
    draining = _slice("g-adder-abc", "adder", {"10.0.0.3": DRAINING})
    ready = _slice("g-adder-def", "adder", {"10.0.0.1": READY})
    stopped = _slice("g-adder-ghi", "adder", {"10.0.0.4": STOPPED})
    # A ready endpoint in another slice of the node wins over a draining one in this slice...
    assert _peers(draining, ready) == {"adder": ("10.0.0.1:7000",)}
    # ...and with none ready in any slice, the draining ones of every slice are used.
    assert _peers(draining, stopped, _slice("g-adder-jkl", "adder", {"10.0.0.5": DRAINING})) == {
        "adder": ("10.0.0.3:7000", "10.0.0.5:7000")
    }
    # The fallback is per node: another node's ready endpoint changes nothing for this one.
    assert _peers(draining, _slice("g-scaler-abc", "scaler", {"10.0.1.1": READY})) == {
        "adder": ("10.0.0.3:7000",),
        "scaler": ("10.0.1.1:7000",),
    }


def test_unset_conditions_are_read_as_the_api_documents() -> None:
    # Unset ready counts as ready; unset serving defers to ready (clusters before v1.22 had it
    # behind a feature gate); unset terminating means not terminating.
    unknown = _slice("g-a-1", "a", {"10.0.0.1": {}})
    assert _peers(unknown) == {"a": ("10.0.0.1:7000",)}
    old_cluster = _slice("g-a-1", "a", {"10.0.0.2": {"ready": False, "terminating": True}})
    assert _peers(old_cluster) == {"a": ()}


def test_ipv6_addresses_are_bracketed() -> None:
    endpoint_slice = _slice("g-a-1", "a", {"fd00::1": READY}, address_type="IPv6")
    assert _peers(endpoint_slice) == {"a": ("[fd00::1]:7000",)}


def test_a_slice_without_the_grpc_port_gives_no_address() -> None:
    endpoint_slice = {**_slice("g-a-1", "a", {"10.0.0.1": READY}), "ports": None}
    assert _peers(endpoint_slice) == {"a": ()}


def test_watch_events_update_the_peer_map() -> None:
    discovery = KubernetesDiscovery(ClusterAccess(host="k", port=443, namespace="ns"), "g")
    discovery.apply_event("ADDED", _slice("s1", "adder", {"10.0.0.1": READY}))
    discovery.apply_event("ADDED", _slice("s2", "adder", {"10.0.0.2": READY}))
    assert discovery.replicas("adder") == ("10.0.0.1:7000", "10.0.0.2:7000")
    discovery.apply_event("MODIFIED", _slice("s1", "adder", {"10.0.0.1": DRAINING}))
    assert discovery.replicas("adder") == ("10.0.0.2:7000",)
    discovery.apply_event("DELETED", _slice("s2", "adder", {}))
    assert discovery.replicas("adder") == ("10.0.0.1:7000",)
    discovery.apply_event("MODIFIED", _slice("s1", "adder", {"10.0.0.1": STOPPED}))
    assert discovery.replicas("adder") == ()
