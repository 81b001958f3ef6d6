"""HTTPS on the ingress (``braid ingress --tls-cert --tls-key``): an ingress in this process with
a self-signed certificate made by ``openssl``, and a real TLS client on loopback."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from edge_harness import EXAMPLES

from braid.runtime import TlsFiles
from braid.runtime._discovery.peers import StaticDiscovery
from braid.runtime._ingress.serving import Ingress
from braid.spec import load_graph

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


def _self_signed(folder: Path) -> TlsFiles:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subject = ["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"]
    files = ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            *subject,
            *files,
        ],
        check=True,
        capture_output=True,
    )
    return TlsFiles(certfile=cert, keyfile=key)


@pytest.fixture
async def ingress(tmp_path: Path) -> AsyncIterator[tuple[Ingress, TlsFiles]]:
    tls = _self_signed(tmp_path)
    graph = load_graph(EXAMPLES / "chain" / "graph.yaml")
    served = Ingress([(graph, StaticDiscovery({}))], tls=tls)
    await served.start(http=("127.0.0.1", 0), grpc=None)
    try:
        yield served, tls
    finally:
        await served.close()


async def _get(port: int, path: str, context: ssl.SSLContext) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def test_the_ingress_serves_https(ingress: tuple[Ingress, TlsFiles]) -> None:
    served, tls = ingress
    context = ssl.create_default_context(cafile=str(tls.certfile))
    status, body = await _get(served.http.port, "/-/healthz", context)
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, body = await _get(served.http.port, "/-/ready", context)
    assert status == 503
    assert json.loads(body)["missing"]


async def test_plain_http_to_an_https_port_is_refused(ingress: tuple[Ingress, TlsFiles]) -> None:
    served, _ = ingress
    reader, writer = await asyncio.open_connection("127.0.0.1", served.http.port)
    writer.write(b"GET /-/healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = await reader.read()
    writer.close()
    assert not answer.startswith(b"HTTP/1.1 200")
