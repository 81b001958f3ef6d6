"""The data plane: sidecar, worker, handles, ingress (HTTP and gRPC) and the local launcher."""

__all__: list[str] = []
