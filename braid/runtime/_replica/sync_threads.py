"""The threads a node's sync code runs in, and what a deadline can and cannot do to them.

Python cannot interrupt a thread. When a request's deadline passes (or its caller goes away)
while a sync method is running, the request fails at once (504, or the caller's cancellation)
and gives back its admission slot, but the thread goes on running the method until it returns.
Such a call is *stuck*: it holds one of the node's threads for nothing. :class:`SyncThreads`
counts them (the metric ``braid_stuck_calls``); when every thread is stuck the replica can run
no sync code at all, and it is *wedged*: it reports NOT_SERVING on gRPC health (readiness and
liveness), so that ``braid run`` or the kubelet restarts it. A call that has not started yet
when its deadline passes never starts.

The threads are daemon threads: a stuck thread never keeps the process alive after it was told
to stop (the standard ``ThreadPoolExecutor`` joins its threads at exit, so one hung call made
the replica ignore SIGTERM forever).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, Future
from typing import Any, Protocol

logger = logging.getLogger(__name__)

_Job = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class SyncThreads(Executor):
    """A fixed number of daemon threads, started as needed, that count their stuck calls."""

    def __init__(self, threads: int, name: str) -> None:
        self.size = threads
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stuck = 0
        self._closed = False

    @property
    def stuck(self) -> int:
        """Calls whose caller gave up while the call kept running in its thread."""
        return self._stuck

    @property
    def wedged(self) -> bool:
        """Every thread is stuck: no sync call can run until one returns."""
        return self._stuck >= self.size

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the node's threads are closed")
            self._jobs.put((future, fn, args, kwargs))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self.size:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        return future

    def abandon(self, future: Future[Any]) -> None:
        """The caller of ``future`` gave up: cancel it, or count it stuck until it returns."""
        if future.cancel() or future.done():
            return
        with self._lock:
            self._stuck += 1
        future.add_done_callback(self._returned)

    def _returned(self, _: Future[Any]) -> None:
        with self._lock:
            self._stuck -= 1

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn, args, kwargs = job
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:  # handed to the awaiting coroutine
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del job, future
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking calls; idle threads end, stuck ones end with the process (daemons)."""
        with self._lock:
            self._closed = True
            count = len(self._threads)
        if cancel_futures:
            while True:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job[0].cancel()
        for _ in range(count):
            self._jobs.put(None)


class _Gauge(Protocol):
    def set(self, value: float) -> None: ...


async def watch_stuck(
    threads: SyncThreads,
    gauge: _Gauge,
    on_wedged: Callable[[bool], Awaitable[None]],
    *,
    node: str,
    interval: float = 0.5,
) -> None:
    """Export the stuck calls, and tell ``on_wedged`` when the node turns wedged or recovers."""
    wedged = False
    while True:
        gauge.set(threads.stuck)
        if threads.wedged != wedged:
            wedged = threads.wedged
            if wedged:
                logger.error(
                    'node "%s" is wedged: all %d of its threads are stuck in calls past their '
                    "deadline; reporting NOT_SERVING so that it is restarted",
                    node,
                    threads.size,
                )
            else:
                logger.warning('node "%s" has a free thread again; serving', node)
            await on_wedged(wedged)
        await asyncio.sleep(interval)
