"""The rendered probe of an HTTP model-server node, performed against the example's real server.

The kubelet sends its HTTP probes to the pod's IP. The example's server must therefore listen on
every interface, not only on 127.0.0.1; loopback is all there is here, so the probe goes to
127.0.0.2, which reaches a server bound to 0.0.0.0 and not one bound to 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from braid.operator import OperatorSettings, render
from braid.spec import load_graph, validate_graph

EXAMPLE = Path("examples/http-model-server")
#: How long the server may take to start (bounded polling, not a timing assertion).
START_SECONDS = 20.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def rendered_probe(port: int) -> dict[str, object]:
    document = load_graph(EXAMPLE / "graph.yaml").model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    document["metadata"]["namespace"] = "ml"
    document["spec"]["nodes"][0]["http"]["port"] = port
    objects = render(validate_graph(document), OperatorSettings())
    deployment = next(o for o in objects if o["metadata"]["name"] == "sentiment-sentiment")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    model = next(c for c in containers if c["name"] == "model")
    probe: dict[str, object] = model["readinessProbe"]["httpGet"]
    return probe


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=2) as response:
        status: int = response.status
        return status


def test_the_rendered_probe_passes_against_the_example_server_on_another_address() -> None:
    probe = rendered_probe(free_port())
    assert "host" not in probe  # the kubelet's default: the pod's IP
    env = {**os.environ, "PORT": str(probe["port"])}
    env.pop("HOST", None)
    server = subprocess.Popen([sys.executable, "server.py"], cwd=EXAMPLE, env=env)
    try:
        url = f"http://127.0.0.2:{probe['port']}{probe['path']}"
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                assert get(url) == 200
                break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=10)
