"""How braid's latency histograms are bucketed, the same in every process.

The ingress and the sidecars share these buckets so that their histograms can be compared and
subtracted (a request's time at the ingress against its steps' times at the sidecars).
"""

# Buckets from 250 microseconds to a minute: trivial nodes sit at the bottom, models above.
LATENCY_BUCKETS = (
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
)  # fmt: skip
