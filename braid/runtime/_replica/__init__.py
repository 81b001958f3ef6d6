"""The replica: one running copy of a node, its sidecar service and the user's code.

Sits above the wire, beside the ingress, and never imports it or the flow.

- :mod:`.hosting`: assembles a sidecar (or a worker) from :class:`~.hosting.ReplicaSettings`;
- :mod:`.sidecar`: the ``braid.v1.Replica`` service: admission, steps, continuations, fetches;
- :mod:`.executors`: where a method runs: in process, in a worker, or on an HTTP model server;
- :mod:`.worker_socket`: the sidecar's side of the worker behind a Unix socket;
- :mod:`.code`: importing and constructing user code;
- :mod:`.handles` and :mod:`.outbound`: calls from user code to other nodes;
- :mod:`.result_store`: step results waiting for their consumers;
- :mod:`.metrics`: the sidecar's Prometheus metrics.
"""
