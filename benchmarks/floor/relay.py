"""One floor server process: a grpc.aio server with a generic bytes handler and no codegen.

Roles:
- ``leaf``: returns the request bytes unchanged (a trivial node);
- ``relay``: forwards the request bytes to ``--next`` and returns its reply (a chain hop);
- ``aggregate``: returns the number of bytes it received, as ASCII (a small joined value).

It binds 127.0.0.1 on a free port and prints ``READY host:port`` once it serves, then runs
until SIGTERM. Run: ``python -m benchmarks.floor.relay --role relay --next 127.0.0.1:5001``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable

import grpc

SERVICE = "floor.Relay"
METHOD = f"/{SERVICE}/Call"
#: No 4 MB ceiling: the payload workloads send 10 MB messages.
OPTIONS = (("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1))

Handler = Callable[[bytes, grpc.aio.ServicerContext], Awaitable[bytes]]


async def _leaf(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request


async def _aggregate(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return str(len(request)).encode()


def _relay(target: str) -> tuple[Handler, grpc.aio.Channel]:
    channel = grpc.aio.insecure_channel(target, options=OPTIONS)
    call = channel.unary_unary(METHOD)  # no serializers: bytes in, bytes out

    async def relay(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        reply: bytes = await call(request)
        return reply

    return relay, channel


async def serve(role: str, target: str | None) -> None:
    channel = None
    if role == "relay":
        if not target:
            raise SystemExit("relay: --next host:port is required")
        handler, channel = _relay(target)
    else:
        handler = _aggregate if role == "aggregate" else _leaf
    server = grpc.aio.server(options=OPTIONS)
    rpc = grpc.unary_unary_rpc_method_handler(handler)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Call": rpc}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"READY 127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(grace=1)
    if channel is not None:
        await channel.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=["leaf", "relay", "aggregate"], required=True)
    parser.add_argument("--next", dest="target", help="host:port of the next hop (relay)")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.role, args.target))
    sys.exit(0)


if __name__ == "__main__":
    main()
