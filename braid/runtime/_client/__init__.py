"""Clients of running graphs: calls through an ingress's gRPC API (``braid.connect``), and
``braid.ingress``, through which a graph's own ASGI app calls its flow and its nodes."""
