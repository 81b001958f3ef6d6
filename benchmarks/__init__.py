"""Side-by-side benchmarks: braid's local mode against Ray Serve and a raw grpc.aio floor.

Run ``python -m benchmarks --help``. The harness starts every system as separate processes on
loopback, drives the same workloads through each in one run, prints a table and writes JSON to
``benchmarks/results/``. Nothing here is imported by the braid package or by its tests, apart
from the pure helpers (statistics, targets, tables) that ``tests/unit/benchmarks`` checks.
See docs/benchmarks.md for the method.
"""
