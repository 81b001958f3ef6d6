"""`braid operator` as a process: kubeconfig credentials, kopf's main loop, the metrics endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from operator_emulator import ApiServer, eventually, watches_open
from test_handlers import chain, create


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def kubeconfig(path: Path, server: str) -> Path:
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": server}}],
        "users": [{"name": "test", "user": {"token": "test-token"}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "test"}}],
        "current-context": "emulator",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text: str = response.read().decode()
        return text


async def test_operator_command_reconciles_and_serves_metrics(
    api_server: ApiServer, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig(tmp_path / "config", str(api_server.url).rstrip("/"))),
        "BRAID_METRICS_PORT": str(port),
        "BRAID_HEALTH_PORT": "0",
        "BRAID_LOG_FORMAT": "json",
    }
    process = subprocess.Popen(  # noqa: ASYNC220 - stopped below with a bounded wait
        [sys.executable, "-m", "braid", "operator"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        await watches_open(api_server)
        await create(api_server, chain())
        await eventually(lambda: len(api_server.all_stored("apps/v1/deployments")) == 3, 20)
        # The counters move when the reconcile ends, after the last apply and the status.
        metrics = await eventually(
            lambda: 'reconciles_total{result="ok"}' in (text := scrape(port)) and text
        )
        assert 'braid_operator_graphs{condition="Ready",status="False"} 1.0' in metrics
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, errors = await asyncio.to_thread(process.communicate, timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            _, errors = process.communicate()
    assert process.returncode == 0, errors[-2000:]
    assert '"level": "INFO"' in errors  # the JSON log format
    lines = [json.loads(line) for line in errors.splitlines() if line.startswith("{")]
    assert [line for line in lines if line["level"] in {"ERROR", "CRITICAL"}] == []
    # One INFO line per state change of a graph, not one per handler call of kopf's.
    chatter = [line["message"] for line in lines if "succeeded" in line["message"]]
    assert chatter == []


async def test_sigterm_stops_the_operator_during_an_api_outage(
    api_server: ApiServer, tmp_path: Path
) -> None:
    peering = {
        "apiVersion": "kopf.dev/v1",
        "kind": "ClusterKopfPeering",
        "metadata": {"name": "braid"},
    }
    response = await api_server.post("/apis/kopf.dev/v1/clusterkopfpeerings", json=peering)
    assert response.status < 300
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig(tmp_path / "config", str(api_server.url).rstrip("/"))),
        "BRAID_METRICS_PORT": "0",
        "BRAID_HEALTH_PORT": "0",
        "BRAID_PEERING": "braid",
    }
    process = subprocess.Popen(  # noqa: ASYNC220 - stopped below with a bounded wait
        [sys.executable, "-m", "braid", "operator"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        await watches_open(api_server)
        api_server.outage(True)
        await eventually(lambda: api_server.refused >= 3, 20)
        process.send_signal(signal.SIGTERM)
        _, errors = await asyncio.to_thread(process.communicate, timeout=30)
    finally:
        api_server.outage(False)
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, errors[-2000:]
