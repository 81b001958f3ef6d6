"""The floor's HTTP ingress: a minimal asyncio HTTP/1.1 server relaying bodies over gRPC.

It parses just enough HTTP/1.1 for a load generator (request line, headers, Content-Length,
keep-alive), sends the body to ``--next`` over grpc.aio and answers 200 with the reply as JSON.
No framework, so that it is a floor for braid's HTTP ingress rather than a competitor. It binds
127.0.0.1 on a free port and prints ``READY host:port``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

import grpc

from benchmarks.floor.relay import METHOD, OPTIONS

_MAX_HEADER_BYTES = 64 * 1024


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def _response(status: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


class Front:
    """One connection handler, sharing one channel to the first hop."""

    def __init__(self, target: str) -> None:
        self._channel = grpc.aio.insecure_channel(target, options=OPTIONS)
        self._call = self._channel.unary_unary(METHOD)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if len(head) > _MAX_HEADER_BYTES:
                    break
                body = await reader.readexactly(_content_length(head))
                try:
                    reply: bytes = await self._call(body)
                    writer.write(_response(b"200 OK", reply))
                except grpc.aio.AioRpcError as exc:
                    message = f'{{"error": "{exc.code().name}"}}'.encode()
                    writer.write(_response(b"502 Bad Gateway", message))
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        await self._channel.close()


async def serve(target: str) -> None:
    front = Front(target)
    server = await asyncio.start_server(front.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"READY 127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()
    await front.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--next", dest="target", required=True, help="host:port of the first hop")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.target))
    sys.exit(0)


if __name__ == "__main__":
    main()
