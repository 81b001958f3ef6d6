"""Chaos: a chain with 2 replicas per node under steady load, one replica killed with SIGKILL
every few seconds. Failed requests must be at most those in flight at each kill, and nothing may
hang. Marked ``chaos`` (``-m "not chaos"`` skips it); ``BRAID_CHAOS_SECONDS`` sets the length
(default 60). The figures are printed and go to docs/reliability.md."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from edge_harness import braid_run, example_copy, pid_alive, post_json

pytestmark = pytest.mark.chaos

KILL_EVERY_SECONDS = 4.0
CLIENTS = 4


@dataclass
class Record:
    requests: list[tuple[float, float, bool]] = field(default_factory=list)
    kills: list[float] = field(default_factory=list)
    #: What each failed request answered: status and error kind, node and step, or the exception.
    failures: collections.Counter[str] = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _load(address: str, stop: threading.Event, record: Record) -> None:
    number = 0
    while not stop.is_set():
        number += 1
        began = time.monotonic()
        failure = ""
        try:
            reply = post_json(address, "/chaos", number, **{"X-Request-Timeout": "20"})
            if reply.status != 200 or reply.json() != (number + 1) * 2:
                failure = _profile(reply.status, reply.body)
        except (OSError, ValueError) as exc:
            failure = f"client {type(exc).__name__}"
        with record.lock:
            record.requests.append((began, time.monotonic(), not failure))
            if failure:
                record.failures[failure] += 1


def _profile(status: int, body: bytes) -> str:
    """A failed reply in a few words: status, error kind, node, step and the message's start."""
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return f"{status} {body[:60]!r}"
    message = str(error.get("message", ""))[:70]
    return f"{status} {error.get('kind')} {error.get('node')}/{error.get('step')}: {message}"


def test_kill_9_of_random_replicas_fails_only_requests_in_flight(tmp_path: Path) -> None:
    seconds = float(os.environ.get("BRAID_CHAOS_SECONDS", "60"))
    manifest = example_copy("chain", tmp_path, route="/chaos")
    graph = yaml.safe_load(manifest.read_text())
    for node in graph["spec"]["nodes"]:
        node["replicas"] = 2
    manifest.write_text(yaml.safe_dump(graph))
    status_file = tmp_path / "status.json"
    rng = random.Random(18)
    with braid_run([manifest], tmp_path) as running:
        record, stop = Record(), threading.Event()
        clients = [
            threading.Thread(target=_load, args=(running.http, stop, record), daemon=True)
            for _ in range(CLIENTS)
        ]
        for client in clients:
            client.start()
        end = time.monotonic() + seconds
        killed: list[int] = []
        while time.monotonic() < end:
            time.sleep(KILL_EVERY_SECONDS)
            status = json.loads(status_file.read_text())
            # The status file lists a killed replica's old pid until its restart is ready.
            replicas = [p["pid"] for p in status["processes"] if "replica" in p["name"]]
            victim = rng.choice([pid for pid in replicas if pid_alive(pid)] or replicas)
            with record.lock:
                record.kills.append(time.monotonic())
            with contextlib.suppress(ProcessLookupError):  # it died of itself meanwhile
                os.kill(victim, signal.SIGKILL)
            killed.append(victim)
        stop.set()
        for client in clients:
            client.join(60)
        hung = sum(client.is_alive() for client in clients)
        assert not hung, "a request hung"
        status = json.loads(status_file.read_text())
        running.status["processes"] = status["processes"]
    failed = [(began, ended) for began, ended, ok in record.requests if not ok]
    in_flight = sum(
        sum(1 for began, ended, _ in record.requests if began <= kill <= ended)
        for kill in record.kills
    )
    figures = {
        "seconds": seconds,
        "kills": len(record.kills),
        "requests": len(record.requests),
        "failed": len(failed),
        "in_flight_at_kills": in_flight,
        "hung": hung,
    }
    print("chaos figures:", json.dumps(figures))
    for failure, count in record.failures.most_common():
        print(f"  {count:6d}  {failure}")
    (tmp_path / "chaos.json").write_text(json.dumps(figures))
    assert len(record.requests) > 0
    assert len(failed) <= in_flight, figures
