"""Child processes of ``braid run``: start, probe readiness, restart on a crash, stop for good.

A :class:`Supervised` process runs in a process group (session) of its own, so that stopping it
reaches whatever it started in turn (a worker, a model server's children): SIGTERM to the group,
then SIGKILL after a grace period. On Linux each child also gets SIGKILL if ``braid run`` itself
dies (``PR_SET_PDEATHSIG``), so that even a killed launcher leaves nothing behind, not even a
child that ignores SIGTERM.

After start-up, a process that exits is started again on the same port after a backoff that
doubles up to a cap (and resets once it has stayed up a while), and each restart is logged.
Readiness is a probe, an async callable: the gRPC health service of a sidecar, a model server's
readiness path, or the ingress's ``/-/ready``. While starting, a passing probe counts only if the
process is still running and is the one listening on its ``port`` (:mod:`.listeners`), so that
a stale server answering on a crash-looping process's port never makes it ready. A process with
a ``readiness_period`` keeps being
probed while it runs, as the kubelet probes a pod: a sidecar whose worker is down turns not
ready, and the listener takes it out of the peers file until it is ready again.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from braid.runtime._local.listeners import PortOwners, port_owners

logger = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[bool]]
#: Told when a process became ready (True) or went down (False).
Listener = Callable[["Supervised", bool], None]

_PR_SET_PDEATHSIG = 1


class LaunchError(Exception):
    """A process of ``braid run`` failed to start; the message names it and says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


@dataclass
class ProcessSpec:
    """How to run one child process and how to tell that it is ready."""

    name: str
    argv: Sequence[str]
    probe: Probe
    cwd: Path | None = None
    env: Mapping[str, str] | None = None
    #: The address peers reach it at (a sidecar's), for the peers file.
    address: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    #: Appended to the error when the command cannot be run: where the user set it.
    command_hint: str = ""
    #: The port it serves, on this machine: it is ready only once it listens there itself (a
    #: probe answered by another process on that port does not count).
    port: int | None = None
    #: Seconds between readiness probes while it runs (None: only probed while starting).
    readiness_period: float | None = None
    #: Once ready, checked every ``liveness_interval``; failing ``liveness_failures`` checks in a
    #: row gets the process killed and restarted (a replica whose threads are all stuck).
    liveness: Probe | None = None


@dataclass(frozen=True)
class Backoff:
    """Restart delays: ``first`` doubling up to ``cap``; reset after ``stable`` seconds up."""

    first: float = 0.5
    cap: float = 10.0
    stable: float = 30.0


def parent_death_signal(signum: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` that asks Linux to send ``signum`` to the child when its parent dies.

    SIGKILL by default: the launcher stops its children gracefully itself; this is for the
    launcher that was killed, and a child that ignores SIGTERM must not outlive it. If the
    parent died before the child could ask, the child exits at once.
    """
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name, use_errno=True)  # loaded before fork: the child only calls it
    parent = os.getpid()

    def set_signal() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signum)
        if os.getppid() != parent:  # the parent is already gone
            os._exit(1)

    return set_signal


class Supervised:
    """One child process, kept running until :meth:`stop`."""

    def __init__(
        self,
        spec: ProcessSpec,
        *,
        backoff: Backoff | None = None,
        listener: Listener | None = None,
        probe_interval: float = 0.1,
        startup_timeout: float = 120.0,
        liveness_interval: float = 2.0,
        liveness_failures: int = 3,
    ) -> None:
        self.spec = spec
        self.backoff = backoff or Backoff()
        self.listener = listener
        self.probe_interval = probe_interval
        self.startup_timeout = startup_timeout
        self.liveness_interval = liveness_interval
        self.liveness_failures = liveness_failures
        self._liveness: asyncio.Task[None] | None = None
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.ready = False
        self._stopping = False
        self._monitor: asyncio.Task[None] | None = None
        self._readiness: asyncio.Task[None] | None = None
        #: Whether the current process has been ready once since it started.
        self._came_up = False
        self._preexec = parent_death_signal()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def start(self) -> None:
        self._came_up = False
        env = None if self.spec.env is None else {**os.environ, **self.spec.env}
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.spec.argv,
                cwd=self.spec.cwd,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=self._preexec,
            )
        except OSError as exc:  # no such program, not executable, no such folder
            where = f" (in {self.spec.cwd})" if self.spec.cwd is not None else ""
            raise LaunchError(
                f"{self.spec.name} could not start: {self.spec.argv[0]!r}{where}: "
                f"{exc.strerror or exc}{self.spec.command_hint}"
            ) from None
        logger.debug("%s started (pid %s)", self.spec.name, self.process.pid)

    async def wait_ready(self, limit: float) -> None:
        """Wait until the probe passes, answered by this process itself while it runs;
        :class:`LaunchError` if the process exits or stalls."""
        process = self.process
        if process is None:
            raise LaunchError(f"{self.spec.name} was never started")
        foreign: tuple[int, ...] = ()
        try:
            async with asyncio.timeout(limit):
                while True:
                    if await self._probe() and process.returncode is None:
                        owners = self._port_owners(process.pid)
                        if owners.ours is not False:
                            break
                        if owners.others and owners.others != foreign:
                            logger.warning(
                                "%s: port %s answers, but from another process (pid %s); "
                                "waiting for %s to serve it",
                                self.spec.name,
                                self.spec.port,
                                ", ".join(map(str, owners.others)),
                                self.spec.name,
                            )
                        foreign = owners.others
                    if process.returncode is not None:
                        others = self._port_owners(process.pid).others
                        raise LaunchError(self._exited(process.returncode, others))
                    await asyncio.sleep(self.probe_interval)
        except TimeoutError:
            raise LaunchError(
                f"{self.spec.name} was not ready after {limit:.0f} s; its log is above"
            ) from None
        self._came_up = True
        self._set_ready(True)

    def _port_owners(self, pid: int) -> PortOwners:
        if self.spec.port is None:
            return PortOwners(ours=None)
        return port_owners(self.spec.port, session=pid)

    def _exited(self, code: int, foreign: tuple[int, ...]) -> str:
        message = f"{self.spec.name} exited with code {code} while starting"
        if foreign:
            pids = ", ".join(map(str, foreign))
            message += f"; port {self.spec.port} is held by another process (pid {pids}): stop it"
        return message + "; its log is above"

    def supervise(self) -> None:
        """From now on, restart the process whenever it exits."""
        self._monitor = asyncio.create_task(self._keep_running(), name=self.spec.name)
        if self.spec.readiness_period is not None:
            self._readiness = asyncio.create_task(
                self._follow_readiness(self.spec.readiness_period), name=self.spec.name
            )
        if self.spec.liveness is not None:
            self._liveness = asyncio.create_task(self._check_liveness(self.spec.liveness))

    async def withdraw(self) -> None:
        """Stop supervising and report not ready (out of the peers file), still running: the
        first half of a drain, before :meth:`stop`."""
        self._stopping = True
        for task in (self._monitor, self._readiness, self._liveness):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._set_ready(False)

    async def stop(self, grace: float) -> None:
        """Stop for good: SIGTERM to the process group, SIGKILL after ``grace`` seconds."""
        self._stopping = True
        for task in (self._monitor, self._readiness, self._liveness):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        process = self.process
        if process is None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(grace):
                await process.wait()
        except TimeoutError:
            logger.warning("%s did not stop within %.0f s; killing it", self.spec.name, grace)
        # Also whatever it started that is still around in its group.
        _signal_group(process.pid, signal.SIGKILL)
        await process.wait()
        self._set_ready(False)

    async def _probe(self) -> bool:
        try:
            return await self.spec.probe()
        except Exception:  # a probe that errs means "not ready yet"
            logger.debug("probe of %s failed", self.spec.name, exc_info=True)
            return False

    def _set_ready(self, ready: bool) -> None:
        if ready != self.ready:
            self.ready = ready
            if self.listener is not None:
                self.listener(self, ready)

    async def _check_liveness(self, probe: Probe) -> None:
        failures = 0
        while not self._stopping:
            await asyncio.sleep(self.liveness_interval)
            process = self.process
            # Like the kubelet's liveness probe: independent of readiness, but not while the
            # process is still starting (a model may load for minutes).
            if not self._came_up or process is None or process.returncode is not None:
                failures = 0
                continue
            try:
                live = await probe()
            except Exception:  # no answer counts as a failure
                live = False
            failures = 0 if live else failures + 1
            if failures >= self.liveness_failures:
                logger.error(
                    "%s failed %d health checks in a row (wedged); killing it to restart it",
                    self.spec.name,
                    failures,
                )
                self._set_ready(False)
                _signal_group(process.pid, signal.SIGKILL)
                failures = 0

    async def _keep_running(self) -> None:
        delay = self.backoff.first
        loop = asyncio.get_running_loop()
        while not self._stopping:
            process = self.process
            if process is None:  # pragma: no cover - supervise() follows start()
                return
            up_since = loop.time()
            code = await process.wait()
            if self._stopping:
                return
            self._set_ready(False)
            _signal_group(process.pid, signal.SIGKILL)  # leftovers of the crashed process
            if loop.time() - up_since > self.backoff.stable:
                delay = self.backoff.first
            self.restarts += 1
            logger.warning(
                "%s exited with code %s; restarting it in %.1f s (restart %d)",
                self.spec.name,
                code,
                delay,
                self.restarts,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff.cap)
            await self._restart()

    async def _follow_readiness(self, period: float) -> None:
        """Probe a running process and report each change of its readiness."""
        while not self._stopping:
            await asyncio.sleep(period)
            process = self.process
            if process is None or process.returncode is not None:
                continue  # _keep_running reports the exit and the restart
            ready = await self._probe()
            if ready != self.ready and process.returncode is None:
                logger.warning("%s is %s", self.spec.name, "ready again" if ready else "not ready")
                self._set_ready(ready)

    async def _restart(self) -> None:
        try:
            await self.start()
            await self.wait_ready(self.startup_timeout)
        except (LaunchError, OSError) as exc:
            logger.warning("%s failed to restart: %s", self.spec.name, exc)
            return
        logger.info("%s restarted and ready", self.spec.name)


def watch_parent(fd: int, gone: Callable[[], None]) -> None:
    """Call ``gone`` once the pipe ``fd`` closes: the process holding its other end exited."""
    loop = asyncio.get_running_loop()

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            logger.warning("the process that started braid run is gone; stopping")
            gone()

    loop.add_reader(fd, readable)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def grpc_health_probe(address: str, service: str) -> Probe:
    """A probe that passes when ``address`` reports ``service`` SERVING."""

    async def probe() -> bool:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1.0)
        serving: bool = reply.status == health_pb2.HealthCheckResponse.SERVING
        return serving

    return probe


def http_probe(host: str, port: int, path: str) -> Probe:
    """A probe that passes when ``GET path`` on ``host:port`` answers 2xx."""

    async def probe() -> bool:
        async with asyncio.timeout(2.0):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                writer.write(request.encode())
                await writer.drain()
                status_line = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
        parts = status_line.split()
        return len(parts) >= 2 and parts[1].startswith(b"2")

    return probe
