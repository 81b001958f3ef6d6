"""The operator's autoscaler reads a pod's metrics text for one graph, and only ready pods."""

from __future__ import annotations

from braid.operator._autoscaling import pod_load, ready_address

TEXT = """\
braid_ongoing_requests{graph="shop",node="adder"} 1.0
braid_queued_requests{graph="shop",node="adder"} 2.0
braid_ongoing_requests{graph="other",node="adder"} 9.0
braid_held_requests{graph="shop",node="multiplier"} 3.0
"""


def test_a_pods_load_is_per_node_of_its_graph() -> None:
    load = pod_load(TEXT, "shop")
    assert load.ongoing == {"adder": 3.0}
    assert load.held == {"multiplier": 3.0}


def test_only_ready_pods_with_an_address_are_read() -> None:
    ready = {"type": "Ready", "status": "True"}
    pod = {"metadata": {}, "status": {"podIP": "10.0.0.1", "conditions": [ready]}}
    assert ready_address(pod) == "10.0.0.1:9090"
    assert ready_address({**pod, "status": {"podIP": "10.0.0.1", "conditions": []}}) is None
    assert ready_address({**pod, "metadata": {"deletionTimestamp": "x"}}) is None
    assert ready_address({"metadata": {}, "status": {"conditions": [ready]}}) is None
