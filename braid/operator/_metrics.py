"""The operator's Prometheus metrics, on a registry of their own (no global state).

- ``braid_operator_reconciles_total{result}``: reconciles by outcome (``ok``, ``invalid``,
  ``error``);
- ``braid_operator_reconcile_duration_seconds``: time of one reconcile, API calls included;
- ``braid_operator_api_errors_total{status}``: failed Kubernetes API requests by HTTP status;
- ``braid_operator_objects_applied_total`` and ``braid_operator_objects_pruned_total``;
- ``braid_operator_graphs{condition,status}``: graphs by the status of each condition.
"""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from braid.spec import ConditionStatus, ConditionType, GraphStatus

_DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class OperatorMetrics:
    """The operator's metrics; one instance per operator process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.reconciles = Counter(
            "braid_operator_reconciles",
            "Reconciles of DeploymentGraphs by result.",
            ["result"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "braid_operator_reconcile_duration_seconds",
            "Time of one reconcile of a DeploymentGraph.",
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.api_errors = Counter(
            "braid_operator_api_errors",
            "Failed Kubernetes API requests by HTTP status (0: not reached).",
            ["status"],
            registry=self.registry,
        )
        self.applied = Counter(
            "braid_operator_objects_applied", "Objects applied.", registry=self.registry
        )
        self.pruned = Counter(
            "braid_operator_objects_pruned",
            "Objects deleted because their graph no longer renders them.",
            registry=self.registry,
        )
        self._graphs = Gauge(
            "braid_operator_graphs",
            "DeploymentGraphs by the status of each condition.",
            ["condition", "status"],
            registry=self.registry,
        )
        self.autoscaler_desired = Gauge(
            "braid_operator_autoscaler_desired_replicas",
            "Replicas the autoscaler wants for a node (or co-location group) now.",
            ["namespace", "graph", "node"],
            registry=self.registry,
        )
        self.autoscaler_decisions = Counter(
            "braid_operator_autoscaler_decisions",
            "Replica count changes the autoscaler made, by direction (up or down).",
            ["namespace", "graph", "node", "direction"],
            registry=self.registry,
        )
        self._known: dict[tuple[str, str], dict[str, str]] = {}

    def observe_status(self, namespace: str, name: str, status: GraphStatus) -> None:
        """Record the conditions of one graph and update the by-condition gauges."""
        self._known[namespace, name] = {c.type.value: c.status.value for c in status.conditions}
        self._update()

    def forget(self, namespace: str, name: str) -> None:
        """A graph was deleted: it no longer counts."""
        self._known.pop((namespace, name), None)
        self._update()

    def _update(self) -> None:
        tally = Tally(
            (condition, status)
            for conditions in self._known.values()
            for condition, status in conditions.items()
        )
        for condition in ConditionType:
            for status in ConditionStatus:
                key = (condition.value, status.value)
                self._graphs.labels(*key).set(tally.get(key, 0))
