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

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from braid.authoring import Graph
from braid.runtime._client.calls import GraphCaller
from braid.runtime._client.connecting import Client
from braid.runtime._local.processes import LaunchError
from braid.runtime._local.workdirs import Workdir
from braid.spec import DRAIN_TIMEOUT_SECONDS

#: How long ``run`` waits for the whole graph to be ready.
START_TIMEOUT_SECONDS = 120.0


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
        self._client = Client(self.grpc_target)
        self._default = self._client.graph(str(self.graphs[0]["name"]))

    def graph(self, name: str) -> GraphCaller:
        if name not in {graph["name"] for graph in self.graphs}:
            raise KeyError(f'no graph "{name}" runs here')
        return self._client.graph(name)

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
        self._client.close()
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
