"""The control plane: kopf handlers, pure rendering of Kubernetes objects, and status."""

__all__: list[str] = []
