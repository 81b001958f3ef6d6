"""Clients of running graphs: calls through an ingress's gRPC API (``braid.connect``)."""
