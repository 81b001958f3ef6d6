"""benchmarks._workloads: selection by name and group, and the braid graph of each workload."""

from pathlib import Path

import pytest

from benchmarks._workloads import WORKLOADS, UnknownWorkload, Workload, select
from braid.spec import load_graph

GRAPHS = Path(__file__).resolve().parents[3] / "benchmarks" / "graphs"


def test_groups_and_names_select_in_table_order_without_repeats() -> None:
    names = [w.name for w in select(["payload-10mb", "core", "chain-1"])]
    assert names == [
        "chain-1",
        "chain-3",
        "fused-chain-3",
        "chain-3@8",
        "chain-3@64",
        "fanout-3",
        "http-chain-3",
        "payload-1mb",
        "payload-10mb",
        "payload-100mb",
        "idle-memory",
    ]


def test_all_selects_every_workload() -> None:
    assert select(["all"]) == list(WORKLOADS)


def test_an_unknown_name_is_refused_with_the_choices() -> None:
    with pytest.raises(UnknownWorkload, match=r'unknown workload "chain-5"; choose among: core'):
        select(["chain-5"])


@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda w: w.name)
def test_every_workload_has_a_braid_graph(workload: Workload) -> None:
    assert (GRAPHS / f"{workload.graph}.yaml").is_file()


@pytest.mark.parametrize("manifest", sorted(GRAPHS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_benchmark_graph_is_valid(manifest: Path) -> None:
    graph = load_graph(str(manifest))
    assert graph.metadata.name == manifest.stem


def test_fused_chain_3_is_the_chain_of_3_as_one_co_located_group() -> None:
    (fused,) = select(["fused-chain-3"])
    graph = load_graph(GRAPHS / f"{fused.graph}.yaml")
    plain = load_graph(GRAPHS / "chain-3.yaml")
    assert [g.nodes for g in graph.spec.groups] == [[n.name for n in plain.spec.nodes]]
    assert graph.spec.flow == plain.spec.flow


def test_the_parallel_workloads_run_the_chain_of_3_with_requests_in_flight() -> None:
    parallel = select(["chain-3@8", "chain-3@64"])
    assert [(w.graph, w.in_flight) for w in parallel] == [("chain-3", 8), ("chain-3", 64)]
    assert all(w.in_flight == 1 for w in WORKLOADS if "@" not in w.name)


def test_the_batching_workloads_are_the_numpy_example_with_other_batch_sizes() -> None:
    example = load_graph(GRAPHS.parent.parent / "examples" / "batching" / "graph.yaml")
    for workload in select(["batching"]):
        graph = load_graph(GRAPHS / f"{workload.graph}.yaml")
        (node,) = graph.spec.nodes
        batching = node.methods[0].batching
        assert batching is not None and batching.max_batch_size == workload.batch
        as_32 = node.model_copy(
            update={
                "methods": [
                    node.methods[0].model_copy(
                        update={"batching": batching.model_copy(update={"max_batch_size": 32})}
                    )
                ]
            }
        )
        assert [as_32] == example.spec.nodes
        assert graph.spec.flow == example.spec.flow


def test_the_partial_failure_workloads_are_the_plain_shapes_with_guards() -> None:
    soft, quorum = select(["soft-chain-3", "quorum-fanout-3"])
    soft_graph = load_graph(GRAPHS / f"{soft.graph}.yaml")
    plain = load_graph(GRAPHS / "chain-3.yaml")
    assert [s.call for s in soft_graph.spec.flow.steps] == [s.call for s in plain.spec.flow.steps]
    assert all(step.optional for step in soft_graph.spec.flow.steps)
    quorum_graph = load_graph(GRAPHS / f"{quorum.graph}.yaml")
    join = quorum_graph.spec.flow.steps[-1]
    assert join.quorum is not None and join.quorum.min == 2
