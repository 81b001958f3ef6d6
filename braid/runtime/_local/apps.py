"""The Python entry point, in the spirit of Ray Serve's ``serve.run``: run graphs, call them.

::

    with braid.runtime.run("examples/chain/graph.yaml") as app:
        assert app.remote(5).result() == 12          # or: await app.remote(5)
        for number in app.options(stream=True).remote(10):   # or: async for
            ...

:func:`run` starts ``braid run`` as a child process (in a session of its own, on free ports, with
a status file it waits for), so that a notebook or a test gets exactly the processes the CLI
would start; leaving the ``with`` block (or :meth:`App.close`) stops them all. So does the
caller's exit without either (``atexit``), and even its death by SIGKILL: ``braid run`` watches
a pipe whose other end only the caller holds, and stops everything when it closes. Calls go to the
ingress over gRPC with braid's codec, so numpy arrays and bytes arrive as they left.
:meth:`App.remote` returns a :class:`GraphResponse` at once (the call is already on its way);
``.result()`` blocks, ``await`` does not block the event loop.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import grpc

from braid.authoring import Graph
from braid.runtime._local.processes import LaunchError
from braid.runtime._local.workdirs import Workdir
from braid.runtime._proto.braid_pb2 import GraphReply, GraphRequest
from braid.runtime._proto.braid_pb2_grpc import GraphStub
from braid.runtime._wire.client import CHANNEL_OPTIONS
from braid.runtime._wire.codec import decode, encode
from braid.runtime._wire.errors import Cancelled, RequestError, from_rpc_error
from braid.spec import DRAIN_TIMEOUT_SECONDS

#: How long ``run`` waits for the whole graph to be ready.
START_TIMEOUT_SECONDS = 120.0


def _value_of(reply: GraphReply) -> Any:
    which = reply.WhichOneof("output")
    if which == "json":
        return json.loads(reply.json)
    if which == "raw":
        return reply.raw
    if which == "payload":
        return decode(reply.payload)
    return None


def _error(exc: grpc.RpcError) -> RequestError:
    # A sync RpcError has the same code/details/trailing_metadata as an AioRpcError.
    return from_rpc_error(cast(grpc.aio.AioRpcError, exc))


class GraphResponse:
    """The pending result of one graph request: ``.result()`` or ``await``."""

    def __init__(self, future: grpc.Future) -> None:
        self._future = future

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the output; raises the request's :class:`RequestError` if it failed."""
        try:
            reply = self._future.result(timeout=timeout)
        except grpc.RpcError as exc:
            raise _error(exc) from exc
        except grpc.FutureTimeoutError:
            raise TimeoutError(
                f"no answer within {timeout} s; the request goes on (cancel() it, or wait again)"
            ) from None
        except grpc.FutureCancelledError:
            raise Cancelled("the request was cancelled (cancel())") from None
        return _value_of(reply)

    def cancel(self) -> bool:
        return bool(self._future.cancel())

    def __await__(self) -> Generator[Any, None, Any]:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()

        def settle() -> None:
            if not waiter.done():
                waiter.set_result(None)

        def wake(_: Any) -> None:
            loop.call_soon_threadsafe(settle)

        self._future.add_done_callback(wake)
        try:
            yield from waiter.__await__()
        except asyncio.CancelledError:
            self._future.cancel()
            raise
        return self.result()


class GraphStream:
    """The items of a streaming graph request, as a sync or an async iterator."""

    def __init__(self, call: Any) -> None:
        self._call = call

    def __iter__(self) -> Iterator[Any]:
        try:
            for reply in self._call:
                yield _value_of(reply)
        except grpc.RpcError as exc:
            raise _error(exc) from exc
        finally:
            self._call.cancel()

    async def __aiter__(self) -> AsyncIterator[Any]:
        items = iter(self)
        done = object()
        try:
            while True:
                item = await asyncio.to_thread(next, items, done)
                if item is done:
                    return
                yield item
        finally:
            self._call.cancel()

    def cancel(self) -> None:
        self._call.cancel()


class GraphCaller:
    """Calls one graph through the ingress; :meth:`options` makes a variant."""

    def __init__(
        self, stub: GraphStub, graph: str, *, stream: bool = False, timeout: float | None = None
    ) -> None:
        self._stub, self.graph, self._stream, self._timeout = stub, graph, stream, timeout

    def options(self, *, stream: bool | None = None, timeout: float | None = None) -> GraphCaller:
        """A variant that streams (``stream=True``) or has a deadline of ``timeout`` seconds."""
        if stream is not None and not isinstance(stream, bool):
            raise TypeError(f"options(stream=...) takes True or False, not {stream!r}")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0
        ):
            raise ValueError(f"options(timeout=...) takes seconds above 0, not {timeout!r}")
        return GraphCaller(
            self._stub,
            self.graph,
            stream=self._stream if stream is None else stream,
            timeout=self._timeout if timeout is None else timeout,
        )

    def remote(self, value: Any = None) -> Any:
        """Send ``value`` as the graph input: a :class:`GraphResponse` (or :class:`GraphStream`)."""
        request = GraphRequest(graph=self.graph, payload=encode(value))
        try:
            if self._stream:
                return GraphStream(self._stub.InvokeStream(request, timeout=self._timeout))
            return GraphResponse(self._stub.Invoke.future(request, timeout=self._timeout))
        except ValueError:  # gRPC's "Cannot invoke RPC: Channel closed!"
            raise ValueError(
                f'graph "{self.graph}" was stopped with its App (close() or the with block '
                "ended); run() it again"
            ) from None


class App:
    """Running graphs: call the first with :meth:`remote`, others with :meth:`graph`."""

    def __init__(
        self, process: subprocess.Popen[bytes], status: dict[str, Any], workdir: Any, pipe: int
    ) -> None:
        self._process = process
        self._pipe = pipe  # braid run stops when it closes
        self._workdir = workdir
        self.status = status
        self.graphs: list[dict[str, str | None]] = status["graphs"]
        self.grpc_target: str = status["grpc"]
        self.http_url: str | None = self.graphs[0]["http"]
        self.pids: list[int] = status["pids"]
        self._closed = False
        atexit.register(self.close)
        self._channel = grpc.insecure_channel(self.grpc_target, options=CHANNEL_OPTIONS)
        self._stub = GraphStub(self._channel)  # type: ignore[no-untyped-call]
        self._default = GraphCaller(self._stub, str(self.graphs[0]["name"]))

    def graph(self, name: str) -> GraphCaller:
        if name not in {graph["name"] for graph in self.graphs}:
            raise KeyError(f'no graph "{name}" runs here')
        return GraphCaller(self._stub, name)

    def url(self, name: str) -> str | None:
        """The HTTP URL of graph ``name``."""
        for graph in self.graphs:
            if graph["name"] == name:
                return graph["http"]
        raise KeyError(f'no graph "{name}" runs here')

    def remote(self, value: Any = None) -> Any:
        return self._default.remote(value)

    def options(self, *, stream: bool | None = None, timeout: float | None = None) -> GraphCaller:
        return self._default.options(stream=stream, timeout=timeout)

    def close(self, grace: float = DRAIN_TIMEOUT_SECONDS + 10.0) -> None:
        """Stop ``braid run`` and everything it started; calls in flight get their answers
        first (braid run drains for up to ``DRAIN_TIMEOUT_SECONDS``), unless it takes longer
        than ``grace`` seconds in all."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        self._channel.close()
        with contextlib.suppress(OSError):
            os.close(self._pipe)
        self._workdir.cleanup()

    def __enter__(self) -> App:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


#: The log levels of ``braid run``.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _check_arguments(
    graphs: tuple[str | Path | Graph, ...], log_level: str, start_timeout: float
) -> None:
    """Refuse what ``braid run`` would refuse, before starting it: a clear error, at once."""
    if not graphs:
        raise ValueError("run() needs at least one graph manifest")
    for graph in graphs:
        if isinstance(graph, Graph):
            continue
        if not isinstance(graph, str | Path):
            raise TypeError(
                "run() takes manifest paths (str or Path) or braid.authoring.Graph objects, "
                f"not {type(graph).__name__}"
            )
        app_reference = ":" in Path(graph).name  # MODULE:APP, which braid run builds
        if not app_reference and not Path(graph).is_file():
            what = "is a folder, not a manifest" if Path(graph).is_dir() else "does not exist"
            raise FileNotFoundError(f"run(): {graph} {what}")
    if log_level not in LOG_LEVELS:
        raise ValueError(
            f"run(log_level=...) takes one of {', '.join(LOG_LEVELS)}, not {log_level!r}"
        )
    if (
        isinstance(start_timeout, bool)
        or not isinstance(start_timeout, int | float)
        or not start_timeout > 0
    ):
        raise ValueError(f"run(start_timeout=...) takes seconds above 0, not {start_timeout!r}")


def run(
    *graphs: str | Path | Graph,
    http: str = "127.0.0.1:0",
    grpc_address: str = "127.0.0.1:0",
    log_level: str = "WARNING",
    start_timeout: float = START_TIMEOUT_SECONDS,
) -> App:
    """Run ``graphs`` locally (as ``braid run`` does) and return an :class:`App` to call them.

    A graph is a manifest's path, or a :class:`braid.authoring.Graph` declared in Python.
    """
    _check_arguments(graphs, log_level, start_timeout)
    workdir = Workdir()
    status_file = Path(workdir.name) / "status.json"
    # braid run stops everything when this pipe closes: when this process exits, however.
    watched, held = os.pipe()
    argv = [sys.executable, "-m", "braid", "run", *workdir.manifests(graphs)]
    argv += ["--http", http, "--grpc", grpc_address, "--log-level", log_level]
    argv += ["--status-file", str(status_file), "--parent-fd", str(watched)]
    argv += ["--startup-timeout", str(start_timeout)]
    # The argv is this interpreter running braid with paths and flags: no shell, no user program.
    # Its announcements ("ready, N processes") are for a terminal, not the caller's output.
    process = subprocess.Popen(  # noqa: S603
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
        pass_fds=(watched,),
    )
    os.close(watched)
    deadline = time.monotonic() + start_timeout
    while not status_file.exists():
        code = process.poll()
        if code is not None or time.monotonic() > deadline:
            if code is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait()
            os.close(held)
            workdir.cleanup()
            raise LaunchError(
                f"braid run {' '.join(str(g) for g in graphs)} "
                + (f"exited with code {code}" if code is not None else "was not ready in time")
                + "; its log is above"
            )
        time.sleep(0.05)
    return App(process, json.loads(status_file.read_text()), workdir, held)
