"""Dynamic batching: concurrent calls of one method run as one call with a list.

A method with ``batching`` in its node's manifest (``spec.nodes[].methods[].batching``) is
called through a :class:`Batcher`. Each call waits in the batcher's queue; the batcher starts a
batch when ``maxBatchSize`` calls wait or ``batchWaitTimeoutSeconds`` passed since the oldest
one arrived, calls the user's method once with the list of the calls' arguments, and hands item
``i`` of the returned list to call ``i``. One batch of a method runs at a time (as Ray Serve's
``@serve.batch`` with its default ``max_concurrent_batches=1``): calls that arrive meanwhile
gather into the next batch, which is where the throughput comes from.

Every call stays its own request:

- a call whose deadline passes (or whose caller goes away) while it waits is cancelled by its
  sidecar and simply left out of the batch; while the batch runs, its result is dropped; the
  other calls of the batch never notice;
- the user's method raising fails every call of that batch, each with an error naming its own
  node, step and the user's exception; a result that is not a list of one item per call fails
  them all with a message saying so;
- a batch holds calls for one model only (model multiplexing), so the method sees one model id.

:func:`take_batch` and :func:`split_results` are the pure halves, tested on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from braid.runtime._wire.errors import RequestError, UserCodeError


@dataclass(slots=True)
class Pending:
    """One call waiting in a batcher: its argument, its caller's future, and its origin."""

    item: Any
    future: asyncio.Future[Any]
    step: str = ""
    model_id: str = ""
    arrived: float = field(default=0.0)


def take_batch(pending: list[Pending], max_size: int) -> list[Pending]:
    """Remove and return the next batch from ``pending`` (oldest first).

    Calls whose caller already gave up (their future is done: cancelled at a deadline) are
    dropped. A batch holds at most ``max_size`` calls, all for the model of the oldest one.
    """
    pending[:] = [entry for entry in pending if not entry.future.done()]
    if not pending:
        return []
    model_id = pending[0].model_id
    batch: list[Pending] = []
    rest: list[Pending] = []
    for entry in pending:
        if len(batch) < max_size and entry.model_id == model_id:
            batch.append(entry)
        else:
            rest.append(entry)
    pending[:] = rest
    return batch


class BatchResultError(ValueError):
    """The user's batched method returned something other than one result per call."""


def split_results(results: Any, size: int) -> list[Any]:
    """The per-call results of a batch of ``size`` calls; :class:`BatchResultError` says why
    ``results`` is not a list (or tuple) of exactly ``size`` items."""
    if isinstance(results, str | bytes | dict) or not isinstance(results, Sequence):
        raise BatchResultError(
            f"returned {type(results).__name__} for a batch of {size} calls; "
            "return a list with one result per call, in order"
        )
    if len(results) != size:
        raise BatchResultError(
            f"returned {len(results)} results for a batch of {size} calls; "
            "return one result per call, in order"
        )
    return list(results)


#: Runs the user's method on a batch: (items, model id, steps) -> results.
RunBatch = Callable[[list[Any], str, list[str]], Awaitable[Any]]


class Batcher:
    """Gathers the calls of one method of one replica into batches."""

    def __init__(
        self,
        run: RunBatch,
        *,
        node: str,
        method: str,
        max_size: int,
        wait_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.node, self.method = node, method
        self.max_size, self.wait_seconds = max_size, wait_seconds
        self._run, self._clock = run, clock
        self._pending: list[Pending] = []
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """Calls waiting for a batch (the cancelled ones included until the next batch)."""
        return len(self._pending)

    async def submit(self, item: Any, *, step: str, model_id: str = "") -> Any:
        """Queue one call and wait for its own result (or its own error)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(Pending(item, future, step, model_id, self._clock()))
        self._arrived.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(
                self._gather(), name=f"batch {self.node}.{self.method}"
            )
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _gather(self) -> None:
        """Start batches while calls wait; one batch at a time."""
        while self._pending:
            await self._fill()
            batch = take_batch(self._pending, self.max_size)
            if batch:
                await self._run_batch(batch)

    async def _fill(self) -> None:
        """Wait until a batch is full or the oldest waiting call has waited long enough."""
        while len(self._pending) < self.max_size:
            left = self._pending[0].arrived + self.wait_seconds - self._clock()
            if left <= 0:
                return
            self._arrived.clear()
            try:
                async with asyncio.timeout(left):
                    await self._arrived.wait()
            except TimeoutError:
                return
            self._pending[:] = [entry for entry in self._pending if not entry.future.done()]
            if not self._pending:
                return

    async def _run_batch(self, batch: list[Pending]) -> None:
        steps = [entry.step for entry in batch]
        try:
            results = split_results(
                await self._run([entry.item for entry in batch], batch[0].model_id, steps),
                len(batch),
            )
        except BatchResultError as exc:
            for entry in batch:
                _fail(entry.future, self._wrong_result(entry.step, str(exc)))
            return
        except RequestError as error:  # a handle call inside the batch failed
            for entry in batch:
                _fail(entry.future, error)
            return
        except Exception as exc:  # the user's method raised: every call of the batch fails
            for entry in batch:
                _fail(
                    entry.future,
                    UserCodeError.from_exception(
                        exc, node=self.node, step=entry.step, method=self.method
                    ),
                )
            return
        for entry, result in zip(batch, results, strict=True):
            if not entry.future.done():  # else its caller gave up while the batch ran
                entry.future.set_result(result)

    def _wrong_result(self, step: str, why: str) -> UserCodeError:
        where = f' (step "{step}")' if step else ""
        message = f'node "{self.node}"{where}: batched method "{self.method}" {why}'
        return UserCodeError(
            message, node=self.node, step=step, exc_type="BatchResultError", exc_message=why
        )


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
