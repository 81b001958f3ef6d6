"""Co-location: the nodes of a group served by one replica process (decision 0009).

A replica of a co-location group hosts one :class:`~braid.runtime._replica.sidecar.ReplicaService`
per member node, each with its own executor, admission and metrics, behind one gRPC server:
:class:`GroupService` hands each call to the member that ``CallRequest.node`` names, and serves
fetches from the store the members share.

:class:`Colocation` is what a member knows of the others: a continuation whose node is hosted
here, sent to this replica (or to no replica in particular), runs in process with the
producer's value itself, never encoded and never over gRPC.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import grpc

from braid.runtime._proto import braid_pb2_grpc
from braid.runtime._proto.braid_pb2 import (
    CallReply,
    CallRequest,
    FetchReply,
    FetchRequest,
    StreamItem,
)
from braid.runtime._wire.errors import RequestError, code_of, error_metadata


class Member(Protocol):
    """A member node's service, as its co-located peers and :class:`GroupService` use it."""

    async def run_inline(
        self, request: CallRequest, value: Any, *, source: str, deadline: float | None
    ) -> CallReply: ...

    async def Call(self, request: CallRequest, context: grpc.aio.ServicerContext) -> CallReply: ...

    async def answer(
        self, request: CallRequest, time_remaining: float | None, domain: str
    ) -> CallReply: ...

    def CallStream(
        self, request: CallRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[StreamItem]: ...

    async def Fetch(
        self, request: FetchRequest, context: grpc.aio.ServicerContext
    ) -> FetchReply: ...


class Colocation:
    """The members hosted in this process, by node, and the address this replica answers on."""

    def __init__(self, members: Mapping[str, Member] | None = None, address: str = "") -> None:
        self.members: Mapping[str, Member] = members or {}
        self.address = address

    def member_for(self, request: CallRequest) -> Member | None:
        """The member that runs ``request`` in process, or None when it goes over the wire."""
        if not self.members or (request.address and request.address != self.address):
            return None
        return self.members.get(request.node)

    def holds_all(self, request: CallRequest) -> bool:
        """Whether every continuation of ``request`` runs in process (none needs its payload)."""
        return all(self.member_for(follow) is not None for follow in request.then)


class GroupService(braid_pb2_grpc.ReplicaServicer):
    """``braid.v1.Replica`` for a replica of a group: each call goes to the member it names."""

    def __init__(self, group: str, members: Mapping[str, Member]) -> None:
        self.group, self.members = group, members
        self._any = next(iter(members.values()))

    def _member(self, request: CallRequest) -> Member:
        member = self.members.get(request.node)
        if member is None:
            names = ", ".join(f'"{name}"' for name in self.members)
            raise RequestError(
                f'this replica of group "{self.group}" hosts nodes {names}, not "{request.node}"',
                node=request.node,
                step=request.step,
            )
        return member

    async def Call(self, request: CallRequest, context: grpc.aio.ServicerContext) -> CallReply:
        try:
            member = self._member(request)
        except RequestError as error:
            await context.abort(
                code_of(error), error.message, trailing_metadata=error_metadata(error)
            )
        return await member.Call(request, context)

    async def answer(
        self, request: CallRequest, time_remaining: float | None, domain: str
    ) -> CallReply:
        """A local call (decision 0025), by the member it names."""
        return await self._member(request).answer(request, time_remaining, domain)

    async def CallStream(
        self, request: CallRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[StreamItem]:
        try:
            member = self._member(request)
        except RequestError as error:
            await context.abort(
                code_of(error), error.message, trailing_metadata=error_metadata(error)
            )
        async for item in member.CallStream(request, context):
            yield item

    async def Fetch(self, request: FetchRequest, context: grpc.aio.ServicerContext) -> FetchReply:
        return await self._any.Fetch(request, context)  # the members share one store
