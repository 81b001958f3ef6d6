"""Executors: where a sidecar runs a method of its node.

- :class:`LocalExecutor` hosts the user's object in this process (the worker), and calls its
  methods: async ones on the event loop, sync ones in the node's threads so that they never
  block it (:mod:`~braid.runtime._replica.sync_threads` says what a deadline can and cannot
  interrupt there), generators (sync or async) as streams.
- :class:`SocketExecutor` forwards to a worker process over a Unix socket (the Kubernetes layout:
  model container and sidecar container share an emptyDir).
- :class:`HttpExecutor` forwards to an HTTP model server in the same pod, one JSON POST a call.

They share one small protocol, so the sidecar does not care which one it has. A call's
:class:`~braid.runtime._replica.arguments.Arguments` arrive encoded: an executor that runs code
here decodes them, one that forwards them (the worker's) passes them on untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import replace
from typing import Any, Protocol

from braid.runtime._replica.arguments import Arguments
from braid.runtime._replica.batching import Batcher
from braid.runtime._replica.handles import CallContext, current_call
from braid.runtime._replica.multiplexing import ModelCache
from braid.runtime._replica.sync_threads import SyncThreads
from braid.runtime._wire import tracing
from braid.runtime._wire.errors import (
    BadRequest,
    LoadError,
    NotFound,
    ReplicaUnavailable,
    RequestError,
    UserCodeError,
)
from braid.spec import CALL_METHOD, Method, Multiplexing

logger = logging.getLogger(__name__)

_DONE = object()


class Executor(Protocol):
    """Runs the methods of one node."""

    node: str

    async def call(self, method: str, arguments: Arguments, step: str) -> Any:
        """Run ``method`` and return its value; a generator's items come back as a list. The
        value may be an :class:`~braid.runtime._replica.arguments.EncodedResult`."""
        ...

    def stream(
        self, method: str, arguments: Arguments, step: str
    ) -> AsyncIterator[tuple[Any, bool]]:
        """Run ``method`` and yield ``(item, final)``: a generator's items with ``final`` False,
        or a plain method's value once with ``final`` True."""
        ...

    async def reconfigure(self, user_config: Any) -> None:
        """Pass a new userConfig to the node (no-op where not supported)."""
        ...

    def loaded_models(self) -> list[str]:
        """A multiplexed node's loaded model ids, least recently used first (else empty)."""
        ...

    async def close(self) -> None: ...


class LocalExecutor:
    """Calls the methods of a user object hosted in this process."""

    def __init__(
        self,
        node: str,
        target: Any,
        *,
        threads: int = 16,
        methods: Sequence[Method] = (),
        multiplexing: Multiplexing | None = None,
        path: str = "",
    ) -> None:
        """``methods`` and ``multiplexing``: the node's options from the manifest, whose
        field ``path`` (``spec.nodes[2]``) a problem with them names."""
        self.node = node
        self._target = target
        self.threads = SyncThreads(threads, f"braid-{node}")
        self._methods: dict[str, Callable[..., Any]] = {}
        self._streams: dict[str, bool] = {}
        self._batchers: dict[str, Batcher] = {}
        for index, options in enumerate(methods):
            if options.batching is not None:
                self._check_batchable(options.name, f"{path}.methods[{index}]")
                self._batchers[options.name] = Batcher(
                    self._batch_runner(options.name),
                    node=node,
                    method=options.name,
                    max_size=options.batching.max_batch_size,
                    wait_seconds=options.batching.batch_wait_timeout_seconds,
                )
        self._models: ModelCache | None = None
        if multiplexing is not None:
            self._loader_name = multiplexing.loader
            self._loader = self._loader_of(multiplexing.loader, f"{path}.multiplexing.loader")
            self._models = ModelCache(
                self._load, self._unload, capacity=multiplexing.max_models_per_replica
            )

    def _check_batchable(self, method: str, path: str) -> None:
        try:
            streams = self.is_stream(method)
        except NotFound as exc:
            raise LoadError(f"{path}.name: {exc.message}") from None
        if streams:
            raise LoadError(
                f'{path}.batching: method "{method}" of node "{self.node}" is a generator; '
                "batching does not support streaming methods (the items of a batch's callers "
                "would interleave): remove batching or return a list instead"
            )

    def _loader_of(self, name: str, path: str) -> Callable[..., Any]:
        try:
            return self.method(name)
        except NotFound as exc:
            raise LoadError(
                f"{path}: {exc.message}; a multiplexed node needs a loader method that takes a "
                "model id and returns the model"
            ) from None

    def method(self, name: str) -> Callable[..., Any]:
        """The bound method ``name``; :class:`NotFound` names the node and what it has."""
        found = self._methods.get(name)
        if found is not None:
            return found
        if name == CALL_METHOD:
            if not callable(self._target):
                raise NotFound(
                    f'node "{self.node}" is not callable; name a method in the step', node=self.node
                )
            found = self._target
        elif name.startswith("_") or not callable(getattr(self._target, name, None)):
            public = sorted(
                n
                for n in dir(self._target)
                if not n.startswith("_") and callable(getattr(self._target, n))
            )
            raise NotFound(
                f'node "{self.node}" has no method "{name}" '
                f"(it has: {', '.join(public) or 'none'})",
                node=self.node,
            )
        else:
            found = getattr(self._target, name)
        self._methods[name] = found
        return found  # type: ignore[no-any-return]

    def is_stream(self, method: str) -> bool:
        found = self._streams.get(method)
        if found is None:  # asked on every call: inspect once per method
            function = self.method(method)
            if not inspect.isfunction(function) and not inspect.ismethod(function):
                function = getattr(function, "__call__", function)  # noqa: B004 - a callable instance
            found = inspect.isasyncgenfunction(function) or inspect.isgeneratorfunction(function)
            self._streams[method] = found
        return found

    async def call(self, method: str, arguments: Arguments, step: str) -> Any:
        context = current_call.get()
        token = None
        if self._models is not None and context is not None and context.model_id:
            model = await self._model(context.model_id, step)
            token = current_call.set(replace(context, model=model))
        try:
            if self.is_stream(method):  # before decoding: the stream decodes, once
                return [item async for item, _ in self.stream(method, arguments, step)]
            args, kwargs = arguments.decode()
            batcher = self._batchers.get(method)
            if batcher is not None:
                if len(args) != 1 or kwargs:
                    raise BadRequest(
                        f'node "{self.node}": batched method "{method}" takes one positional '
                        f"argument per call (got {len(args)} and {len(kwargs)} keywords)",
                        node=self.node,
                        step=step,
                    )
                model_id = context.model_id if context is not None else ""
                return await batcher.submit(args[0], step=step, model_id=model_id)
            try:
                return await self._invoke(self.method(method), args, kwargs)
            except asyncio.CancelledError:
                raise
            except RequestError as error:  # a handle call failed: keep its kind, note the path
                error.through(self.node, step)
                raise
            except Exception as exc:
                raise UserCodeError.from_exception(
                    exc, node=self.node, step=step, method=method
                ) from exc
        finally:
            if token is not None:
                current_call.reset(token)

    async def _invoke(
        self, function: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]
    ) -> Any:
        """Run user code: async on the loop, sync in one of the node's threads."""
        if _is_async(function):
            return await function(*args, **kwargs)
        context = contextvars.copy_context()
        future = self.threads.submit(context.run, function, *args, **kwargs)
        try:
            result = await asyncio.wrap_future(future)
        except asyncio.CancelledError:  # past the deadline: the thread may go on running
            self.threads.abandon(future)
            raise
        if inspect.isawaitable(result):
            return await result
        return result

    def _batch_runner(self, method: str) -> Callable[[list[Any], str, list[str]], Any]:
        async def run(items: list[Any], model_id: str, steps: list[str]) -> Any:
            model = None
            if model_id and self._models is not None:
                model = await self._models.get(model_id)
            current_call.set(CallContext("", None, steps[0], model_id=model_id, model=model))
            return await self._invoke(self.method(method), [items], {})

        return run

    async def _model(self, model_id: str, step: str) -> Any:
        if self._models is None:  # pragma: no cover - checked by the caller
            return None
        try:
            return await self._models.get(model_id)
        except asyncio.CancelledError:
            raise
        except RequestError as error:
            error.through(self.node, step)
            raise
        except Exception as exc:
            failed = UserCodeError.from_exception(
                exc, node=self.node, step=step, method=self._loader_name
            )
            failed.message = f"{failed.message} (loading model {model_id!r})"
            failed.args = (failed.message,)
            raise failed from exc

    async def _load(self, model_id: str) -> Any:
        logger.info('node "%s": loading model %s', self.node, model_id)
        return await self._invoke(self._loader, [model_id], {})

    async def _unload(self, model_id: str, model: Any) -> None:
        cleanup = getattr(model, "cleanup", None)
        if callable(cleanup):
            await self._invoke(cleanup, [], {})

    def loaded_models(self) -> list[str]:
        return self._models.loaded() if self._models is not None else []

    async def stream(
        self, method: str, arguments: Arguments, step: str
    ) -> AsyncIterator[tuple[Any, bool]]:
        if not self.is_stream(method):
            yield await self.call(method, arguments, step), True
            return
        function = self.method(method)
        context = current_call.get()
        if self._models is not None and context is not None and context.model_id:
            # The RPC runs in a task of its own: the variable needs no reset.
            current_call.set(replace(context, model=await self._model(context.model_id, step)))
        args, kwargs = arguments.decode()
        try:
            produced = function(*args, **kwargs)
            if inspect.isasyncgen(produced):
                async for item in produced:
                    yield item, False
            else:
                async for item in self._drain_in_thread(produced):
                    yield item, False
        except asyncio.CancelledError:
            raise
        except RequestError as error:  # a handle call failed: keep its kind, note the path
            error.through(self.node, step)
            raise
        except Exception as exc:
            raise UserCodeError.from_exception(
                exc, node=self.node, step=step, method=method
            ) from exc

    async def _drain_in_thread(self, generator: Iterator[Any]) -> AsyncIterator[Any]:
        """Iterate a sync generator in a thread, handing items over one at a time."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1)
        stop = threading.Event()
        context = contextvars.copy_context()

        def hand_over(entry: tuple[Any, BaseException | None]) -> bool:
            """Put ``entry`` on the queue; False once the consumer has gone away."""
            put = asyncio.run_coroutine_threadsafe(queue.put(entry), loop)
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    put.result(timeout=0.1)
                    return True
            put.cancel()
            return False

        def produce() -> None:
            try:
                for item in generator:
                    if stop.is_set() or not hand_over((item, None)):
                        return
                hand_over((_DONE, None))
            except Exception as exc:  # handed to the consumer, which raises it
                hand_over((_DONE, exc))

        future: Future[Any] = self.threads.submit(context.run, produce)
        try:
            while True:
                item, error = await queue.get()
                if error is not None:
                    raise error
                if item is _DONE:
                    break
                yield item
        finally:
            stop.set()
            while not queue.empty():
                queue.get_nowait()
            await asyncio.wait([asyncio.wrap_future(future)], timeout=1)
            if not future.done():  # the generator is inside a slow next(): count it stuck
                self.threads.abandon(future)

    async def reconfigure(self, user_config: Any) -> None:
        hook = getattr(self._target, "reconfigure", None)
        if not callable(hook) or inspect.isfunction(self._target):
            raise LoadError(
                f'node "{self.node}" has a userConfig, but its code has no reconfigure() method '
                "to receive it; add reconfigure(self, config) or remove userConfig"
            )
        try:
            result = hook(user_config)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            raise UserCodeError.from_exception(
                exc, node=self.node, step="", method="reconfigure"
            ) from exc

    async def close(self) -> None:
        for batcher in self._batchers.values():
            await batcher.close()
        if self._models is not None:
            await self._models.close()
        self.threads.shutdown(wait=False, cancel_futures=True)


def _is_async(function: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(function):
        return True
    call = getattr(function, "__call__", None)  # noqa: B004 - a callable instance
    return inspect.iscoroutinefunction(call)


class ServerExecutor:
    """What every executor that forwards calls to a model server beside the node shares: a
    unary ``call`` (a stream is its one value), no userConfig, no multiplexed models."""

    async def call(self, method: str, arguments: Arguments, step: str) -> Any:
        raise NotImplementedError

    async def stream(
        self, method: str, arguments: Arguments, step: str
    ) -> AsyncIterator[tuple[Any, bool]]:
        yield await self.call(method, arguments, step), True

    async def reconfigure(self, user_config: Any) -> None:
        return None

    def loaded_models(self) -> list[str]:
        return []

    async def close(self) -> None:
        return None


class HttpExecutor(ServerExecutor):
    """Forwards each call to an HTTP model server on 127.0.0.1 as a JSON POST."""

    def __init__(
        self, node: str, port: int, paths: dict[str, str], *, host: str = "127.0.0.1"
    ) -> None:
        self.node = node
        self._host, self._port, self._paths = host, port, paths

    async def call(self, method: str, arguments: Arguments, step: str) -> Any:
        path = self._paths.get(method)
        if path is None:
            raise NotFound(
                f'HTTP node "{self.node}" has no method "{method}"', node=self.node, step=step
            )
        args, kwargs = arguments.decode()
        if len(args) == 1 and not kwargs:
            body: Any = args[0]
        elif not args:
            body = kwargs
        else:
            raise BadRequest(
                f'HTTP node "{self.node}" takes one positional argument (the JSON body) '
                "or keywords",
                node=self.node,
                step=step,
            )
        status, data = await self._post(path, json.dumps(body).encode(), step)
        if status >= 400:
            raise UserCodeError(
                f'HTTP node "{self.node}" (step "{step}") answered {status}: '
                f"{data[:300].decode(errors='replace')}",
                node=self.node,
                step=step,
                exc_type=f"HTTP{status}",
            )
        try:
            return json.loads(data) if data else None
        except ValueError as exc:
            raise UserCodeError(
                f'HTTP node "{self.node}" (step "{step}") answered with invalid JSON: {exc}',
                node=self.node,
                step=step,
                exc_type="InvalidJSON",
            ) from exc

    async def _post(self, path: str, body: bytes, step: str) -> tuple[int, bytes]:
        try:
            reader, writer = await asyncio.open_connection(self._host, self._port)
        except OSError as exc:
            raise ReplicaUnavailable(
                f'HTTP node "{self.node}" is not reachable on port {self._port}: {exc}',
                node=self.node,
            ) from exc
        try:
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"{tracing.header_lines()}Connection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
        return _parse_http_response(raw, self.node, step)


def _parse_http_response(raw: bytes, node: str, step: str = "") -> tuple[int, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = _dechunk(body)
    except (IndexError, ValueError) as exc:
        why = f" ({exc})" if isinstance(exc, ValueError) and str(exc) else ""
        raise UserCodeError(
            f'HTTP node "{node}": malformed response from the model server{why}',
            node=node,
            step=step,
            exc_type="BadHTTP",
        ) from None
    return status, body


_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


def _dechunk(data: bytes) -> bytes:
    """The body of a chunked response; ``ValueError`` says what is malformed."""
    out, position = bytearray(), 0
    while True:
        end = data.find(b"\r\n", position)
        if end < 0:
            raise ValueError("the chunked body ends without its last chunk")
        size_text = data[position:end].split(b";")[0].strip()
        if not size_text or not set(size_text) <= _HEX_DIGITS:
            raise ValueError(f"bad chunk size {size_text[:20].decode(errors='replace')!r}")
        size = int(size_text, 16)
        if size == 0:
            return bytes(out)
        chunk = data[end + 2 : end + 2 + size]
        if len(chunk) < size or data[end + 2 + size : end + 4 + size] != b"\r\n":
            raise ValueError("a chunk is shorter than its size")
        out += chunk
        position = end + 4 + size
