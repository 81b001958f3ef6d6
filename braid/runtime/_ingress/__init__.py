"""The ingress: the graph's entry point over HTTP and gRPC.

Sits above the flow and the wire, beside the replica, and never imports it.

- :mod:`.serving`: assembles an :class:`~.serving.Ingress` from its settings and serves it;
- :mod:`.routes`: the table of graphs, route prefixes, deadlines and size limits;
- :mod:`.http_listener`, :mod:`.http_protocol` and :mod:`.http_asgi`: HTTP on uvicorn
  (httptools), its limits, and requests and responses over ASGI;
- :mod:`.http_handling` and :mod:`.grpc_service`: graph requests over each protocol;
- :mod:`.rendering`: graph inputs and outputs to and from each wire format;
- :mod:`.metrics`: the ingress's Prometheus metrics.
"""
