"""``braid.connect``: a client for graphs that are already running, here or on Kubernetes.

::

    import braid

    with braid.connect("127.0.0.1:9000") as client:       # braid run's gRPC address
        assert client.graph("chain").remote(5).result() == 12
        total = await client.graph("chain").options(timeout=2).remote(5)
        for item in client.graph("numbers").options(stream=True).remote(3):
            ...

The target is an ingress's gRPC address: what ``braid run`` prints, ``kubectl port-forward
svc/<graph>-ingress 9000``, or the Service's address inside the cluster. :func:`connect` checks
that a braid ingress answers there before it returns, so that a wrong address is one clear error
and not a hang on the first call.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from braid.runtime._client.calls import GraphCaller, check_seconds
from braid.runtime._proto.braid_pb2_grpc import GraphStub
from braid.runtime._wire.client import CHANNEL_OPTIONS

#: The gRPC health service name under which an ingress reports the graphs it serves.
GRAPH_SERVICE = "braid.v1.Graph"
#: Seconds :func:`connect` waits for the ingress to answer.
CONNECT_TIMEOUT_SECONDS = 10.0


class Client:
    """The graphs one ingress serves: :meth:`graph` by name, or :meth:`remote` for its only one."""

    def __init__(
        self,
        target: str,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        timeout: float | None = None,
    ) -> None:
        self.target = target
        if credentials is None:
            self._channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        else:
            self._channel = grpc.secure_channel(target, credentials, options=CHANNEL_OPTIONS)
        self._stub = GraphStub(self._channel)  # type: ignore[no-untyped-call]
        self._timeout = timeout
        self._closed = False

    def graph(self, name: str) -> GraphCaller:
        """Calls of graph ``name`` (a graph the ingress does not serve fails with NotFound)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"graph(...) takes a graph's name, not {name!r}")
        return GraphCaller(self._stub, name, timeout=self._timeout)

    def remote(self, value: Any = None) -> Any:
        """Call the ingress's only graph (an ingress with several needs :meth:`graph`)."""
        return GraphCaller(self._stub, "", timeout=self._timeout).remote(value)

    def options(self, *, stream: bool | None = None, timeout: float | None = None) -> GraphCaller:
        """Calls of the ingress's only graph that stream, or have a deadline."""
        caller = GraphCaller(self._stub, "", timeout=self._timeout)
        return caller.options(stream=stream, timeout=timeout)

    def close(self) -> None:
        """Close the connection; calls in flight are cancelled."""
        if not self._closed:
            self._closed = True
            self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check(self, timeout: float) -> None:
        """Wait until a braid ingress answers; ``ConnectionError`` says what is there instead."""
        where = f"no braid ingress answers at {self.target}"
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise ConnectionError(
                f"{where} within {timeout:g} s; is `braid run` running there (it prints its gRPC "
                "address), or `kubectl port-forward svc/<graph>-ingress 9000`?"
            ) from None
        health = health_pb2_grpc.HealthStub(self._channel)
        request = health_pb2.HealthCheckRequest(service=GRAPH_SERVICE)
        try:
            health.Check(request, timeout=timeout)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            raise ConnectionError(
                f"{where}: the server there does not serve {GRAPH_SERVICE} "
                f"({code.name if code is not None else exc}); is it a braid ingress's gRPC port?"
            ) from None


def connect(
    target: str,
    *,
    timeout: float = CONNECT_TIMEOUT_SECONDS,
    credentials: grpc.ChannelCredentials | None = None,
    request_timeout: float | None = None,
) -> Client:
    """A :class:`Client` of the braid ingress at ``target`` (``host:port`` of its gRPC API).

    Waits up to ``timeout`` seconds for the ingress to answer; ``request_timeout`` is the default
    deadline of every call (each call may set its own with ``.options(timeout=...)``).
    ``credentials`` makes a TLS channel (``grpc.ssl_channel_credentials(...)``).
    """
    if not isinstance(target, str) or not target.strip():
        raise ValueError(f"connect() takes the ingress's gRPC address, host:port, not {target!r}")
    if target.startswith(("http://", "https://")):
        raise ValueError(
            f"connect() takes the ingress's gRPC address (host:port, e.g. 127.0.0.1:9000, which "
            f"braid run prints), not an HTTP URL: {target}"
        )
    check_seconds(timeout, "connect(timeout=...)")
    if request_timeout is not None:
        check_seconds(request_timeout, "connect(request_timeout=...)")
    client = Client(target, credentials=credentials, timeout=request_timeout)
    try:
        client._check(timeout)
    except BaseException:
        client.close()
        raise
    return client
