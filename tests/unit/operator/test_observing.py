"""Status computation: conditions, per-node counts, transitions, timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from braid.operator import invalid_status, observed_status, transitions
from braid.operator._observing import pod_failure
from braid.spec import ConditionType, DeploymentGraph, GraphStatus, Problem, load_graph

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def chain() -> DeploymentGraph:
    graph = load_graph("examples/chain/graph.yaml")
    meta = graph.metadata.model_copy(update={"namespace": "ml"})
    return graph.model_copy(update={"metadata": meta})


def deployment(
    replicas: int = 1,
    ready: int = 1,
    updated: int | None = None,
    total: int | None = None,
    current: bool = True,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    updated = replicas if updated is None else updated
    return {
        "metadata": {"generation": 2},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": 2 if current else 1,
            "replicas": updated if total is None else total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "conditions": conditions or [],
        },
    }


def all_ready() -> dict[str, dict[str, Any]]:
    return {name: deployment() for name in ("chain-adder", "chain-multiplier", "chain-ingress")}


def conditions(status: GraphStatus) -> dict[str, tuple[str, str, str]]:
    return {c.type.value: (c.status.value, c.reason, c.message) for c in status.conditions}


def test_everything_ready() -> None:
    status = observed_status(chain(), all_ready(), None, 3, NOW)
    found = conditions(status)
    assert found["Ready"][:2] == ("True", "AllReady")
    assert found["Progressing"][0] == "False"
    assert found["Degraded"][0] == "False"
    assert found["Invalid"][0] == "False"
    assert status.ready_nodes == "2/2"
    assert status.observed_generation == 3
    assert status.endpoint is not None
    assert status.endpoint.http == "http://chain-ingress.ml.svc:8000/"
    assert status.endpoint.grpc == "chain-ingress.ml.svc:9000"
    assert all(c.observed_generation == 3 for c in status.conditions)


def test_nothing_created_yet_names_every_node() -> None:
    status = observed_status(chain(), {}, None, 1, NOW)
    ready = conditions(status)["Ready"]
    assert ready[:2] == ("False", "NodesNotReady")
    assert "adder (creating)" in ready[2] and "multiplier" in ready[2] and "ingress" in ready[2]
    assert conditions(status)["Progressing"][0] == "True"
    assert status.ready_nodes == "0/2"
    assert [(n.name, n.desired_replicas, n.ready_replicas) for n in status.nodes] == [
        ("adder", 1, 0),
        ("multiplier", 1, 0),
    ]


def test_rollout_keeps_ready_and_reports_progress() -> None:
    children = all_ready()
    children["chain-adder"] = deployment(replicas=5, ready=5, updated=2, total=7)
    found = conditions(observed_status(chain(), children, None, 3, NOW))
    assert found["Ready"][0] == "True"
    assert found["Progressing"][0] == "True"
    assert "adder (5/5 ready, 2 updated)" in found["Progressing"][2]
    assert "multiplier" not in found["Progressing"][2]


def test_a_deployment_that_has_not_seen_its_template_is_still_progressing() -> None:
    children = all_ready()
    children["chain-multiplier"] = deployment(current=False)
    assert conditions(observed_status(chain(), children, None, 3, NOW))["Progressing"][0] == "True"


def test_failed_rollout_is_degraded_and_names_the_node() -> None:
    children = all_ready()
    stuck = {"type": "Progressing", "status": "False", "message": "ProgressDeadlineExceeded"}
    children["chain-multiplier"] = deployment(ready=0, conditions=[stuck])
    found = conditions(observed_status(chain(), children, None, 3, NOW))
    assert found["Degraded"][:2] == ("True", "RolloutFailed")
    assert found["Degraded"][2] == "multiplier: ProgressDeadlineExceeded"
    assert found["Ready"][0] == "False"


def test_apply_failure_is_degraded() -> None:
    status = observed_status(chain(), all_ready(), None, 3, NOW, failure="HTTP 403 forbidden")
    found = conditions(status)
    assert found["Degraded"] == ("True", "ApplyFailed", "HTTP 403 forbidden")
    assert found["Ready"][:2] == ("False", "ApplyFailed")


def test_invalid_lists_every_problem_and_keeps_the_last_counts() -> None:
    previous = observed_status(chain(), all_ready(), None, 3, NOW)
    problems = [Problem("spec.nodes[0].replicas", "must be at least 0"), Problem("a", "b")]
    status = invalid_status(problems, previous, 4, NOW)
    found = conditions(status)
    assert found["Invalid"][:2] == ("True", "InvalidSpec")
    assert found["Invalid"][2] == "2 problems: spec.nodes[0].replicas: must be at least 0; a: b"
    assert found["Ready"][0] == "False"
    assert status.ready_nodes == "2/2"
    assert status.observed_generation == 4


def test_transition_time_moves_only_when_the_status_changes() -> None:
    first = observed_status(chain(), {}, None, 1, NOW)
    later = NOW + timedelta(minutes=5)
    same = observed_status(chain(), {}, first, 1, later)
    ready_now = observed_status(chain(), all_ready(), first, 1, later)

    def stamp(status: GraphStatus, kind: ConditionType) -> str | None:
        return next(c.last_transition_time for c in status.conditions if c.type is kind)

    assert stamp(same, ConditionType.READY) == "2026-01-02T03:04:05Z"
    assert stamp(ready_now, ConditionType.READY) == "2026-01-02T03:09:05Z"
    assert transitions(first, same) == []


def test_transitions_become_events() -> None:
    first = observed_status(chain(), {}, None, 1, NOW)
    created = transitions(None, first)
    assert [(t.type.value, t.status.value) for t in created] == [("Progressing", "True")]
    ready = transitions(first, observed_status(chain(), all_ready(), first, 1, NOW))
    assert {(t.type.value, t.status.value, t.warning) for t in ready} == {
        ("Ready", "True", False),
        ("Progressing", "False", False),
    }
    invalid = transitions(first, invalid_status([Problem("x", "y")], first, 2, NOW))
    assert ("Invalid", True) in {(t.type.value, t.warning) for t in invalid}


def crash_looping_pod(restarts: int = 7, reason: str = "CrashLoopBackOff") -> dict[str, Any]:
    return {
        "metadata": {"labels": {"braid.dev/node": "adder"}},
        "status": {
            "containerStatuses": [
                {"name": "sidecar", "restartCount": 0, "state": {"running": {}}},
                {
                    "name": "model",
                    "restartCount": restarts,
                    "state": {"waiting": {"reason": reason, "message": "back-off 5m0s"}},
                    "lastState": {
                        "terminated": {
                            "exitCode": 1,
                            "reason": "Error",
                            "message": "Traceback ...\nModuleNotFoundError: No module named 'arith'",
                        }
                    },
                },
            ]
        },
    }


def test_a_crash_looping_node_is_degraded_naming_it_and_its_last_error() -> None:
    children = all_ready()
    children["chain-adder"] = deployment(replicas=1, ready=0)
    status = observed_status(chain(), children, None, 3, NOW, pods={"adder": [crash_looping_pod()]})
    degraded = conditions(status)["Degraded"]
    assert degraded[:2] == ("True", "RolloutFailed")
    assert "adder: container model CrashLoopBackOff (restarted 7 times)" in degraded[2]
    assert "No module named 'arith'" in degraded[2] and "exit code 1" in degraded[2]
    # Not "still progressing": a crash loop does not finish by waiting.
    assert "adder" not in conditions(status)["Progressing"][2]


def test_restarts_alone_degrade_and_a_few_do_not() -> None:
    restarting = crash_looping_pod(restarts=3, reason="")
    restarting["status"]["containerStatuses"][1]["state"] = {"running": {}}
    assert pod_failure([restarting]) is not None
    once = crash_looping_pod(restarts=1, reason="")
    once["status"]["containerStatuses"][1]["state"] = {"running": {}}
    assert pod_failure([once]) is None
    assert pod_failure([crash_looping_pod(restarts=0, reason="ImagePullBackOff")]) is not None


def test_a_gpu_nodes_one_at_a_time_rollout_keeps_it_available_with_one_down() -> None:
    children = all_ready()
    gpu = deployment(replicas=4, ready=3, updated=1)
    gpu["spec"]["strategy"] = {"rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    children["chain-adder"] = gpu
    assert conditions(observed_status(chain(), children, None, 3, NOW))["Ready"][0] == "True"
