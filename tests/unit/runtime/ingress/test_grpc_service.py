"""The gRPC ingress's cap on calls in flight per client connection: overload with a retry hint."""

from __future__ import annotations

from typing import Any, NoReturn, cast

import grpc
import pytest

from braid.runtime._ingress import grpc_service
from braid.runtime._ingress.grpc_service import GraphService
from braid.runtime._ingress.metrics import IngressMetrics
from braid.runtime._ingress.routes import RouteTable


class Aborted(Exception):
    pass


class Context:
    def __init__(self, peer: str) -> None:
        self._peer = peer
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    def peer(self) -> str:
        return self._peer

    async def abort(self, code: grpc.StatusCode, details: str, **_: Any) -> NoReturn:
        self.aborted = (code, details)
        raise Aborted


async def test_calls_past_the_cap_of_one_connection_are_refused_as_overload(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(grpc_service, "MAX_CALLS_PER_CONNECTION", 2)
    service = GraphService(cast(RouteTable, None), IngressMetrics())  # no route is needed
    busy = Context("ipv4:127.0.0.1:1")
    async with service._admitted(busy), service._admitted(busy):
        refused = Context("ipv4:127.0.0.1:1")
        with pytest.raises(Aborted):
            async with service._admitted(refused):
                pass
        assert refused.aborted is not None
        code, message = refused.aborted
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "over 2 gRPC calls in flight on one connection; retry after 1 s" in message
        async with service._admitted(Context("ipv4:127.0.0.1:2")):  # another connection
            pass
    async with service._admitted(busy):  # slots come back when calls end
        pass
