"""braid: declarative deployment graphs for multi-model inference on Kubernetes.

The package is split by plane, and the layout is the architecture:

- ``braid.spec``: the ``DeploymentGraph`` model and its validation (depends on nothing of ours);
- ``braid.runtime``: the data plane (sidecar, worker, handles, ingress, local launcher);
- ``braid.operator``: the control plane (kopf handlers, rendering, status);
- ``braid.cli``: the ``braid`` command, on top of all three.
"""

from braid._version import __version__

__all__ = ["__version__"]
