"""The wire: how calls, values and errors cross from one braid process to another.

Above discovery, below everything that serves or calls. Nothing here knows about flows,
ingresses or user code.

- :mod:`.errors`: the error hierarchy of the data plane and its translation to gRPC statuses;
- :mod:`.codec`: values as a JSON header plus raw buffers, never pickle;
- :mod:`.client`: a channel per peer, deadlines, calls to ``braid.v1.Replica``;
- :mod:`.routing`: power-of-two-choices over the ready replicas that discovery reports;
- :mod:`.latency`: the latency buckets that every braid histogram shares.
"""
