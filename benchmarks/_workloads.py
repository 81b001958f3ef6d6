"""The workloads of the benchmark (issue 5), as data: which graph shape, how wide, what payload.

A workload is the same for every system: a chain of N trivial hops, a fan-out to N trivial nodes
joined by an aggregator, or a chain driven over HTTP by a load generator. Each system turns the
shape into its own topology (a Ray Serve application, floor relay processes, a braid graph under
benchmarks/graphs/). Selection by name or by group (``core``, ``sweep``, ``all``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

MB = 1024 * 1024


class Kind(StrEnum):
    """How a workload is driven."""

    LATENCY = "latency"  # closed loop, ``in_flight`` requests at once, from a client process
    HTTP = "http"  # wrk at N connections against the system's HTTP ingress
    MEMORY = "memory"  # resident memory of one idle replica


class Shape(StrEnum):
    CHAIN = "chain"
    FANOUT = "fanout"


@dataclass(frozen=True)
class Workload:
    """One row of the results table."""

    name: str
    title: str
    kind: Kind
    shape: Shape = Shape.CHAIN
    width: int = 1  # chain length, or fan-out width (the aggregator comes on top)
    payload_bytes: int = 0  # 0: a small JSON value; else raw bytes of this size
    #: braid only: the chain's nodes co-located in one group (decision 0009). Other systems skip
    #: it; its target compares it with the floor's plain chain of the same length.
    fused: bool = False
    #: Requests the client keeps in flight: 1 measures latency, more measure throughput.
    in_flight: int = 1
    #: braid only: maxBatchSize of the numpy example's batched method (examples/batching),
    #: driven over HTTP; its target compares batch 32 with batch 1 (decision 0014).
    batch: int = 0
    #: braid only: the shape with partial-failure handling (decision 0021): "soft" (every step
    #: optional, with a fallback) or "quorum" (the join goes on with 2 of its inputs); compared
    #: with braid's own plain shape.
    partial: str = ""

    @property
    def graph(self) -> str:
        """Name of braid's manifest for this workload, under benchmarks/graphs/."""
        if self.partial:
            return f"{self.partial}-{self.shape.value}-{self.width}"
        if self.batch:
            return f"batching-{self.batch}"
        if self.fused:
            return f"fused-{self.shape.value}-{self.width}"
        if self.payload_bytes:
            return f"payload-{self.width}"
        return f"{self.shape.value}-{self.width}"


def _chain(width: int, title: str) -> Workload:
    return Workload(f"chain-{width}", title, Kind.LATENCY, Shape.CHAIN, width)


def _parallel(width: int, in_flight: int) -> Workload:
    title = f"chain of {width}, {in_flight} requests in flight"
    name = f"chain-{width}@{in_flight}"
    return Workload(name, title, Kind.LATENCY, Shape.CHAIN, width, in_flight=in_flight)


def _fanout(width: int, title: str) -> Workload:
    return Workload(f"fanout-{width}", title, Kind.LATENCY, Shape.FANOUT, width)


WORKLOADS: tuple[Workload, ...] = (
    _chain(1, "one hop"),
    _chain(2, "chain of 2"),
    _chain(3, "chain of 3"),
    Workload("fused-chain-3", "chain of 3, co-located", Kind.LATENCY, Shape.CHAIN, 3, fused=True),
    Workload(
        "soft-chain-3", "chain of 3, every step soft", Kind.LATENCY, Shape.CHAIN, 3, partial="soft"
    ),
    _parallel(3, 8),
    _parallel(3, 64),
    _chain(4, "chain of 4"),
    _chain(8, "chain of 8"),
    _fanout(1, "fan-out 1 + aggregator"),
    _fanout(2, "fan-out 2 + aggregator"),
    _fanout(3, "fan-out 3 + aggregator"),
    _fanout(4, "fan-out 4 + aggregator"),
    _fanout(8, "fan-out 8 + aggregator"),
    Workload(
        "quorum-fanout-3",
        "fan-out 3 + a quorum join (2 of 3)",
        Kind.LATENCY,
        Shape.FANOUT,
        3,
        partial="quorum",
    ),
    Workload("http-chain-3", "HTTP, chain of 3, 32 connections", Kind.HTTP, Shape.CHAIN, 3),
    Workload("payload-1mb", "1 MB through 2 hops", Kind.LATENCY, Shape.CHAIN, 2, 1 * MB),
    Workload("payload-10mb", "10 MB through 2 hops", Kind.LATENCY, Shape.CHAIN, 2, 10 * MB),
    Workload("payload-100mb", "100 MB through 2 hops", Kind.LATENCY, Shape.CHAIN, 2, 100 * MB),
    Workload("idle-memory", "idle replica, resident memory", Kind.MEMORY),
    *(
        Workload(f"batching-{size}", f"numpy model, batches of {size}", Kind.HTTP, batch=size)
        for size in (1, 8, 32)
    ),
)

GROUPS: dict[str, tuple[str, ...]] = {
    "core": (
        "chain-1",
        "chain-3",
        "fused-chain-3",
        "chain-3@8",
        "chain-3@64",
        "fanout-3",
        "http-chain-3",
        "payload-1mb",
        "payload-10mb",
        "payload-100mb",
        "idle-memory",
    ),
    "sweep": (
        *("chain-1", "chain-2", "chain-4", "chain-8"),
        *("fanout-1", "fanout-2", "fanout-4", "fanout-8"),
    ),
    "batching": ("batching-1", "batching-8", "batching-32"),
    "partial": ("chain-3", "soft-chain-3", "fanout-3", "quorum-fanout-3"),
    "all": tuple(w.name for w in WORKLOADS),
}


class UnknownWorkload(ValueError):
    """A workload or group name that the harness does not know."""

    def __init__(self, name: str) -> None:
        known = ", ".join([*GROUPS, *(w.name for w in WORKLOADS)])
        super().__init__(f'unknown workload "{name}"; choose among: {known}')


def select(names: Iterable[str]) -> list[Workload]:
    """The workloads named (or in the groups named), in the table's order, without repeats."""
    by_name = {w.name: w for w in WORKLOADS}
    wanted: set[str] = set()
    for name in names:
        if name in GROUPS:
            wanted.update(GROUPS[name])
        elif name in by_name:
            wanted.add(name)
        else:
            raise UnknownWorkload(name)
    return [w for w in WORKLOADS if w.name in wanted]
