"""The sidecar's side of the two-container layout: forwarding calls to a worker over a socket.

In a pod, the node's code runs in the model container as ``braid worker``, which serves
``braid.v1.Replica`` on a Unix socket in an emptyDir shared with the sidecar container. The
sidecar resolves upstream arguments itself and forwards calls with plain values, so the worker
never talks to peers for step inputs. See docs/decisions/0005-sidecar-and-worker.md for the
measured cost of this hop against the in-process layout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from braid.runtime._proto.braid_pb2 import CallRequest
from braid.runtime._proto.braid_pb2_grpc import ReplicaStub
from braid.runtime._replica.handles import current_call
from braid.runtime._wire.client import CHANNEL_OPTIONS, REPLICA_SERVICE
from braid.runtime._wire.codec import decode, encode
from braid.runtime._wire.errors import ReplicaUnavailable, from_rpc_error


class SocketExecutor:
    """Runs methods in a ``braid worker`` process reached over a Unix socket."""

    def __init__(self, node: str, socket: Path) -> None:
        self.node = node
        self._target = f"unix:{socket}"
        self._channel = grpc.aio.insecure_channel(self._target, options=list(CHANNEL_OPTIONS))
        self._stub = ReplicaStub(self._channel)  # type: ignore[no-untyped-call]

    async def wait_ready(self, timeout: float = 600.0) -> None:  # noqa: ASYNC109
        """Wait until the worker has constructed the node's class (its readiness)."""
        stub = health_pb2_grpc.HealthStub(self._channel)
        ends = time.monotonic() + timeout
        while time.monotonic() < ends:
            try:
                reply = await stub.Check(
                    health_pb2.HealthCheckRequest(service=REPLICA_SERVICE), timeout=2
                )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.2)
        raise ReplicaUnavailable(
            f'the worker of node "{self.node}" at {self._target} never became ready', node=self.node
        )

    def _request(
        self, method: str, args: list[Any], kwargs: dict[str, Any], step: str
    ) -> tuple[CallRequest, float | None]:
        context = current_call.get()
        request = CallRequest(
            request_id=context.request_id if context else "",
            node=self.node,
            method=method,
            step=step,
            args=encode([args, kwargs]),
            return_result=True,
            caller="sidecar",
        )
        timeout = None
        if context is not None and context.deadline is not None:
            timeout = max(context.deadline - time.monotonic(), 0.001)
        return request, timeout

    async def call(self, method: str, args: list[Any], kwargs: dict[str, Any], step: str) -> Any:
        request, timeout = self._request(method, args, kwargs, step)
        try:
            reply = await self._stub.Call(request, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, address=self._target, node=self.node) from exc
        return decode(reply.result)

    async def stream(
        self, method: str, args: list[Any], kwargs: dict[str, Any], step: str
    ) -> AsyncIterator[tuple[Any, bool]]:
        request, timeout = self._request(method, args, kwargs, step)
        call = self._stub.CallStream(request, timeout=timeout)
        try:
            async for item in call:
                yield decode(item.item), item.final
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, address=self._target, node=self.node) from exc
        finally:
            call.cancel()

    async def reconfigure(self, user_config: Any) -> None:
        return None  # the worker watches the graph file itself

    async def close(self) -> None:
        await self._channel.close(grace=None)
