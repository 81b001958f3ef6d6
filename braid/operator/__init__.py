"""The control plane: reconciling DeploymentGraphs into Kubernetes objects, and their status.

- :func:`render` turns a validated graph and :class:`OperatorSettings` into the objects the
  operator applies (pure; ``braid render`` prints the same);
- :func:`observed_status` and :func:`invalid_status` compute a graph's status (pure);
- :class:`Reconciler` applies, prunes and writes the status through a :class:`KubernetesApi`;
- :func:`run_operator` runs the kopf operator (needs the ``operator`` extra).

The operator never imports ``braid.runtime``: the pods it renders run the runtime's commands,
and the contract between them is the rendered pod spec (docs/operator.md).
"""

from braid.operator._errors import KubernetesError, ObjectNotFound, OperatorError, RenderError
from braid.operator._eventing import ApiEvents, EventRecorder
from braid.operator._kubernetes import KubernetesApi
from braid.operator._live_nodes import LiveNode, live_node
from braid.operator._metrics import OperatorMetrics
from braid.operator._observing import Transition, invalid_status, observed_status, transitions
from braid.operator._reconciling import Outcome, Reconciler
from braid.operator._rendering import (
    CONFIG_MAP_LIMIT_BYTES,
    compiled_graph,
    render,
    size_problems,
)
from braid.operator._running import KopfLogFilter, OperatorStopped, run_operator
from braid.operator._settings import DEFAULT_RUNTIME_IMAGE, OperatorSettings

__all__ = [
    "CONFIG_MAP_LIMIT_BYTES",
    "DEFAULT_RUNTIME_IMAGE",
    "ApiEvents",
    "EventRecorder",
    "KopfLogFilter",
    "KubernetesApi",
    "KubernetesError",
    "LiveNode",
    "ObjectNotFound",
    "OperatorError",
    "OperatorMetrics",
    "OperatorSettings",
    "OperatorStopped",
    "Outcome",
    "Reconciler",
    "RenderError",
    "Transition",
    "compiled_graph",
    "invalid_status",
    "live_node",
    "observed_status",
    "render",
    "run_operator",
    "size_problems",
    "transitions",
]
