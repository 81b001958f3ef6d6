"""The latency client: its own process, closed loop, prints one JSON line of samples.

At ``--in-flight N`` it keeps N requests in flight on its one channel (a parallel-throughput
workload). With ``--system-pid`` it measures the CPU time of those processes and every process
under them over the timed phase. Modes:
- ``floor-chain``: call the first relay of a chain (client -> A -> B -> C);
- ``floor-fanout``: call every leaf at once, then the aggregator with their joined replies;
- ``braid``: call ``braid.v1.Graph/Invoke`` on braid's gRPC ingress.

Every reply is checked (size of a payload, presence of an output), so a system that answers
with errors cannot look fast. Run by the harness as ``python -m benchmarks._client MODE ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable

import grpc

from benchmarks._closed_loop import closed_loop
from benchmarks._cpu import CpuMeter, tree
from benchmarks.floor.relay import METHOD, OPTIONS

Call = Callable[[], Awaitable[object]]


class WrongReply(RuntimeError):
    """A system answered, but not with what the workload sent or expects."""


def _small_value() -> bytes:
    return b"1"


def _floor_chain(target: str, body: bytes) -> Call:
    channel = grpc.aio.insecure_channel(target, options=OPTIONS)
    call = channel.unary_unary(METHOD)

    async def once() -> None:
        reply = await call(body)
        if len(reply) != len(body):
            raise WrongReply(f"floor chain returned {len(reply)} bytes, sent {len(body)}")

    return once


def _floor_fanout(leaves: list[str], aggregator: str, body: bytes) -> Call:
    calls = [grpc.aio.insecure_channel(t, options=OPTIONS).unary_unary(METHOD) for t in leaves]
    join = grpc.aio.insecure_channel(aggregator, options=OPTIONS).unary_unary(METHOD)

    async def once() -> None:
        replies = await asyncio.gather(*(call(body) for call in calls))
        total = await join(b"".join(replies))
        if int(total) != len(body) * len(leaves):
            raise WrongReply(f"floor aggregator counted {total!r} bytes")

    return once


def _braid(target: str, payload_bytes: int) -> Call:
    # Imported here: the floor modes must not need braid at all.
    from braid.runtime._proto import braid_pb2, braid_pb2_grpc  # noqa: PLC0415

    channel = grpc.aio.insecure_channel(target, options=OPTIONS)
    stub = braid_pb2_grpc.GraphStub(channel)  # type: ignore[no-untyped-call]
    if payload_bytes:
        request = braid_pb2.GraphRequest(raw=b"x" * payload_bytes)
    else:
        request = braid_pb2.GraphRequest(json="1")

    async def once() -> None:
        reply = await stub.Invoke(request)
        output = reply.WhichOneof("output")
        if output is None:
            raise WrongReply("braid replied with no output")
        if payload_bytes and output == "raw" and len(reply.raw) != payload_bytes:
            raise WrongReply(f"braid returned {len(reply.raw)} bytes, sent {payload_bytes}")

    return once


def _build(args: argparse.Namespace) -> Call:
    body = b"x" * args.payload_bytes if args.payload_bytes else _small_value()
    if args.mode == "floor-chain":
        return _floor_chain(args.target, body)
    if args.mode == "floor-fanout":
        return _floor_fanout(args.leaves.split(","), args.aggregator, body)
    return _braid(args.target, args.payload_bytes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["floor-chain", "floor-fanout", "braid"])
    parser.add_argument("--target", help="host:port of the first hop or of braid's ingress")
    parser.add_argument("--leaves", help="floor-fanout: comma-separated host:port of the leaves")
    parser.add_argument("--aggregator", help="floor-fanout: host:port of the aggregator")
    parser.add_argument("--payload-bytes", type=int, default=0)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--warmup", type=int, required=True)
    parser.add_argument("--budget", type=float, required=True, help="seconds of timed calls")
    parser.add_argument("--in-flight", type=int, default=1, help="requests in flight at once")
    parser.add_argument(
        "--system-pid",
        type=int,
        action="append",
        default=[],
        help="a process of the system under test (with all under it), for its CPU time",
    )
    args = parser.parse_args(argv)

    async def run() -> None:
        call = _build(args)
        roots = args.system_pid
        meter = CpuMeter(lambda: [pid for root in roots for pid in tree(root)]) if roots else None
        result = await closed_loop(
            call, args.requests, args.warmup, args.budget, in_flight=args.in_flight, meter=meter
        )
        print(json.dumps(result), flush=True)

    try:
        asyncio.run(run())
    except (grpc.RpcError, WrongReply, ValueError) as exc:
        print(f"client failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
