"""The flow: one graph request, planned once and then driven across the sidecars.

Used by the ingress (and by nothing in the replica); it calls replicas only through the wire.

- :mod:`.planning`: the pure plan of a graph, made once when the ingress starts;
- :mod:`.running`: the :class:`~.running.FlowRunner` that sends every step of a request;
  each request's run is in :mod:`.dispatching`, over the state in :mod:`.states`, with its
  parts in :mod:`.outputting`, :mod:`.settling` and :mod:`.subgraph_steps`;
- :mod:`.results`: what a request produces, its value or its stream, and its errors.
"""
