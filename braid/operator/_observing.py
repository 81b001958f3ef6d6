"""Status computation: the graph's conditions, per-node counts and endpoint, from its children.

Pure and synchronous like rendering: the reconciler passes the graph, the Deployments it found,
the previous status, the clock's ``now`` and any failure to apply; :func:`observed_status` and
:func:`invalid_status` return the new status, and :func:`transitions` lists the condition changes
worth an Event. The rules, by Kubernetes conventions (docs/operator.md has the table):

- a node is *available* when its Deployment exists and keeps the replicas a rolling update keeps
  up (all desired replicas but 20%, and at least one): Ready is True when every node and the
  ingress are available, so that it stays True through a rollout; ``readyNodes`` counts them;
- a node is *rolled out* when its Deployment has seen the current template (observedGeneration),
  all desired replicas run it and are ready, and no old replica is left: Progressing is True
  while some node or the ingress is not;
- Degraded is True when a Deployment reports ProgressDeadlineExceeded or a ReplicaFailure, when
  a node's pod has a container that cannot run (CrashLoopBackOff, an image that cannot be
  pulled, a bad configuration) or has restarted ``RESTARTS_DEGRADED`` times, or when the
  operator could not apply the objects; its message names the nodes and the last error;
- Invalid is True, listing every problem, when the spec breaks validation.

A condition keeps its ``lastTransitionTime`` while its status stays the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from braid.operator._labels import (
    INGRESS_GRPC_PORT,
    INGRESS_HTTP_PORT,
    SCALING_REASON_ANNOTATION,
    ingress_object_name,
    node_object_name,
)
from braid.spec import (
    Condition,
    ConditionStatus,
    ConditionType,
    DeploymentGraph,
    Endpoint,
    GraphStatus,
    NodeStatus,
    Problem,
    host_of,
)

INGRESS = "ingress"
#: Restarts of one container after which its node counts as failing even between back-offs.
RESTARTS_DEGRADED = 3
#: Waiting reasons of a container that will not run without a change (or only by luck).
_STUCK = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
#: The share of replicas a rolling update may take down (the Deployments' maxUnavailable).
MAX_UNAVAILABLE_PERCENT = 20
_MAX_MESSAGE = 1000


@dataclass(frozen=True)
class Rollout:
    """One Deployment as status sees it."""

    name: str
    desired: int
    updated: int
    ready: int
    total: int
    exists: bool
    observed: bool
    failure: str | None
    #: Replicas a rolling update may take down (the Deployment's maxUnavailable).
    max_unavailable: int = 0

    @property
    def available(self) -> bool:
        """Serving with at least the replicas a rolling update keeps up, and at least one."""
        if not self.exists:
            return False
        floor = self.desired - self.max_unavailable
        return self.ready >= max(floor, min(self.desired, 1))

    @property
    def rolled_out(self) -> bool:
        """Every desired replica runs the current template and is ready; no old one is left."""
        return (
            self.exists
            and self.observed
            and self.updated >= self.desired
            and self.total <= self.updated
            and self.ready >= self.desired
        )

    def progress(self) -> str:
        if not self.exists:
            return f"{self.name} (creating)"
        return f"{self.name} ({self.ready}/{self.desired} ready, {self.updated} updated)"


@dataclass(frozen=True)
class Transition:
    """A condition that changed: the Event to post about it."""

    type: ConditionType
    status: ConditionStatus
    reason: str
    message: str
    warning: bool


def read_rollout(
    name: str,
    deployment: Mapping[str, Any] | None,
    desired: int,
    pods: Sequence[Mapping[str, Any]] = (),
) -> Rollout:
    """How far a Deployment got: its counts, whether it saw its template, why it fails."""
    if deployment is None:
        return Rollout(name, desired, 0, 0, 0, exists=False, observed=False, failure=None)
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    wanted = spec.get("replicas")
    wanted = wanted if isinstance(wanted, int) else desired
    generation = (deployment.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    total, updated = int(status.get("replicas") or 0), int(status.get("updatedReplicas") or 0)
    return Rollout(
        name,
        wanted,
        updated,
        int(status.get("readyReplicas") or 0),
        total,
        exists=True,
        observed=generation is None or (isinstance(observed, int) and observed >= generation),
        failure=_failure(status) or pod_failure(pods),
        max_unavailable=_max_unavailable(spec, wanted),
    )


def _max_unavailable(spec: Mapping[str, Any], replicas: int) -> int:
    """The replicas a rolling update may take down, as the Deployment says (rounded down)."""
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    value = rolling.get("maxUnavailable", f"{MAX_UNAVAILABLE_PERCENT}%")
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%") and text[:-1].isdigit():
        return replicas * int(text[:-1]) // 100
    return int(text) if text.isdigit() else replicas * MAX_UNAVAILABLE_PERCENT // 100


def _failure(status: Mapping[str, Any]) -> str | None:
    for condition in status.get("conditions") or []:
        kind, state = condition.get("type"), condition.get("status")
        if kind == "Progressing" and state == "False":
            return str(condition.get("message") or condition.get("reason") or "not progressing")
        if kind == "ReplicaFailure" and state == "True":
            return str(condition.get("message") or condition.get("reason") or "replica failure")
    return None


def pod_failure(pods: Sequence[Mapping[str, Any]]) -> str | None:
    """Why a node's pods cannot serve, from their container statuses; None when they can.

    A container counts when it waits for a reason in ``_STUCK`` or has restarted
    ``RESTARTS_DEGRADED`` times or more; the message names it, its restarts and its last error
    (``lastState.terminated``: the message the container wrote, else the reason and exit code).
    """
    for pod in pods:
        status = pod.get("status") or {}
        for container in [
            *(status.get("initContainerStatuses") or []),
            *(status.get("containerStatuses") or []),
        ]:
            waiting = (container.get("state") or {}).get("waiting") or {}
            restarts = int(container.get("restartCount") or 0)
            stuck = waiting.get("reason") in _STUCK
            if not stuck and restarts < RESTARTS_DEGRADED:
                continue
            what = str(waiting.get("reason") or "restarting")
            text = f"container {container.get('name')} {what} (restarted {restarts} times)"
            last = _last_error(container, waiting)
            return f"{text}: {last}" if last else text
    return None


def _last_error(container: Mapping[str, Any], waiting: Mapping[str, Any]) -> str:
    terminated = (container.get("lastState") or {}).get("terminated") or {}
    if terminated:
        message = str(terminated.get("message") or "").strip()
        reason = terminated.get("reason") or "terminated"
        code = terminated.get("exitCode")
        detail = f"{reason}, exit code {code}" if code is not None else str(reason)
        return f"{message.splitlines()[-1]} ({detail})" if message else detail
    return str(waiting.get("message") or "")


def endpoint(graph: DeploymentGraph) -> Endpoint:
    host = f"{ingress_object_name(graph)}.{graph.metadata.namespace}.svc"
    grpc = f"{host}:{INGRESS_GRPC_PORT}" if graph.spec.ingress.grpc.enabled else None
    return Endpoint(
        http=f"http://{host}:{INGRESS_HTTP_PORT}{graph.spec.ingress.http.route_prefix}",
        grpc=grpc,
    )


def _host(graph: DeploymentGraph, node_name: str) -> str:
    """The Deployment a node runs in: its own, or its co-location group's."""
    group = graph.group_of(node_name)
    return node_name if group is None else group.name


def _desired(graph: DeploymentGraph, node_name: str) -> int:
    node = host_of(graph, _host(graph, node_name)).node
    if node.autoscaling is not None:
        return node.autoscaling.min_replicas
    return 1 if node.replicas is None else node.replicas


def observed_status(
    graph: DeploymentGraph,
    deployments: Mapping[str, Mapping[str, Any]],
    previous: GraphStatus | None,
    generation: int | None,
    now: datetime,
    *,
    failure: str | None = None,
    pods: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> GraphStatus:
    """The status of a valid graph from its Deployments (by name), its pods (by node name) and
    any failure to apply."""
    pods = pods or {}
    nodes = [
        read_rollout(
            node.name,
            deployments.get(node_object_name(graph, _host(graph, node.name))),
            _desired(graph, node.name),
            pods.get(_host(graph, node.name), ()),
        )
        for node in graph.spec.nodes
    ]
    ingress = read_rollout(
        INGRESS, deployments.get(ingress_object_name(graph)), graph.spec.ingress.replicas
    )
    everything = [*nodes, ingress]
    failing = [r for r in everything if r.failure is not None]
    conditions = [
        _ready([r for r in everything if not r.available], failure, len(nodes)),
        _progressing([r for r in everything if not r.rolled_out]),
        _degraded(failing, failure),
        _condition(ConditionType.INVALID, False, "Valid", "the spec passed validation"),
    ]
    ready_nodes = sum(1 for r in nodes if r.available)
    return GraphStatus(
        observed_generation=generation,
        conditions=_stamp(conditions, previous, generation, now),
        nodes=[
            NodeStatus(
                name=r.name,
                desired_replicas=r.desired,
                updated_replicas=r.updated,
                ready_replicas=r.ready,
                scaling_reason=_scaling_reason(
                    deployments.get(node_object_name(graph, _host(graph, r.name)))
                ),
            )
            for r in nodes
        ],
        ready_nodes=f"{ready_nodes}/{len(nodes)}",
        endpoint=endpoint(graph),
    )


def _scaling_reason(deployment: Mapping[str, Any] | None) -> str | None:
    """The autoscaler's last decision, as it recorded it on the node's Deployment."""
    annotations = ((deployment or {}).get("metadata") or {}).get("annotations") or {}
    reason = annotations.get(SCALING_REASON_ANNOTATION)
    return str(reason) if reason else None


def _ready(waiting: list[Rollout], failure: str | None, node_count: int) -> Condition:
    if failure is not None:
        return _condition(ConditionType.READY, False, "ApplyFailed", failure)
    if waiting:
        return _condition(
            ConditionType.READY,
            False,
            "NodesNotReady",
            "waiting for " + ", ".join(r.progress() for r in waiting),
        )
    nodes = f"{node_count} node{'s' if node_count != 1 else ''}"
    return _condition(ConditionType.READY, True, "AllReady", f"{nodes} and the ingress are ready")


def _progressing(waiting: list[Rollout]) -> Condition:
    rolling = [r for r in waiting if r.failure is None]
    if rolling:
        return _condition(
            ConditionType.PROGRESSING,
            True,
            "RollingOut",
            "rolling out " + ", ".join(r.progress() for r in rolling),
        )
    return _condition(ConditionType.PROGRESSING, False, "RolledOut", "no rollout in progress")


def _degraded(failing: list[Rollout], failure: str | None) -> Condition:
    if failure is not None:
        return _condition(ConditionType.DEGRADED, True, "ApplyFailed", failure)
    if failing:
        return _condition(
            ConditionType.DEGRADED,
            True,
            "RolloutFailed",
            "; ".join(f"{r.name}: {r.failure}" for r in failing),
        )
    return _condition(ConditionType.DEGRADED, False, "AsExpected", "no node reports a failure")


def invalid_status(
    problems: Sequence[Problem],
    previous: GraphStatus | None,
    generation: int | None,
    now: datetime,
) -> GraphStatus:
    """The status of a graph whose spec is invalid: every problem listed, children untouched."""
    count = len(problems)
    listed = "; ".join(str(problem) for problem in problems)
    message = f"{count} problem{'s' if count != 1 else ''}: {listed}"
    why = "the spec is invalid; objects of the last valid spec, if any, are left as they are"
    conditions = [
        _condition(ConditionType.READY, False, "InvalidSpec", why),
        _condition(ConditionType.PROGRESSING, False, "InvalidSpec", why),
        _condition(ConditionType.DEGRADED, False, "InvalidSpec", why),
        _condition(ConditionType.INVALID, True, "InvalidSpec", message),
    ]
    kept = previous or GraphStatus()
    return GraphStatus(
        observed_generation=generation,
        conditions=_stamp(conditions, previous, generation, now),
        nodes=kept.nodes,
        ready_nodes=kept.ready_nodes,
        endpoint=kept.endpoint,
    )


def _condition(kind: ConditionType, true: bool, reason: str, message: str) -> Condition:
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    status = ConditionStatus.TRUE if true else ConditionStatus.FALSE
    return Condition(type=kind, status=status, reason=reason, message=message)


def _stamp(
    conditions: list[Condition],
    previous: GraphStatus | None,
    generation: int | None,
    now: datetime,
) -> list[Condition]:
    before = {c.type: c for c in (previous.conditions if previous else [])}
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    stamped = []
    for condition in conditions:
        old = before.get(condition.type)
        kept = old is not None and old.status == condition.status and old.last_transition_time
        stamped.append(
            condition.model_copy(
                update={
                    "last_transition_time": old.last_transition_time if kept and old else stamp,
                    "observed_generation": generation,
                }
            )
        )
    return stamped


def transitions(previous: GraphStatus | None, current: GraphStatus) -> list[Transition]:
    """The conditions whose status or reason changed, as Events to post."""
    before = {c.type: c for c in (previous.conditions if previous else [])}
    changes = []
    for condition in current.conditions:
        old = before.get(condition.type)
        if old is not None and (old.status, old.reason) == (condition.status, condition.reason):
            continue
        if old is None and condition.status is ConditionStatus.FALSE:
            continue  # "not Invalid", "not Degraded" on creation are not news
        bad = (condition.type is ConditionType.READY) != (condition.status is ConditionStatus.TRUE)
        changes.append(
            Transition(
                condition.type,
                condition.status,
                condition.reason,
                condition.message,
                warning=bad and condition.type is not ConditionType.PROGRESSING,
            )
        )
    return changes
