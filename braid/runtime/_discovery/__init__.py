"""Discovery: which replicas of each node are ready, and where.

The bottom layer of the runtime; it imports nothing else of braid's.

- :mod:`.peers`: the :class:`~.peers.Discovery` interface, and static discovery from a map or
  from the peers file that ``braid run`` writes;
- :mod:`.endpointslices`: a watch of the graph's EndpointSlices in a cluster.
"""
