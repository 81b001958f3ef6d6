"""braid run's local calls (decision 0025), with real processes: the ingress and the replicas
call each other over Unix sockets in the run's folder; a replica killed in the middle of a call
fails that call at once, naming the node, and its restart serves again; ``--no-local-calls``
keeps gRPC."""

from __future__ import annotations

import os
import signal
import textwrap
import threading
import time
from pathlib import Path

from edge_harness import EXAMPLES, Reply, Running, braid_run, post_json, wait_gone

from braid.runtime._wire.local_calls import socket_path

CHAIN = EXAMPLES / "chain" / "graph.yaml"


def _calls_dir(running: Running, pid: int) -> Path | None:
    """The ``--local-calls-dir`` that process ``pid`` was started with, or None."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    if b"--local-calls-dir" not in argv:
        return None
    return Path(argv[argv.index(b"--local-calls-dir") + 1].decode())


def _connected(path: Path) -> int:
    """How many accepted connections the socket at ``path`` has (from /proc/net/unix)."""
    count = 0
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[7] == str(path) and fields[5] == "03":  # connected
            count += 1
    return count


def test_a_run_calls_its_replicas_over_unix_sockets(tmp_path: Path) -> None:
    with braid_run([CHAIN], tmp_path) as running:
        # The first call of an output step streams over gRPC (is it a generator?), then unary.
        for value in range(3):
            assert post_json(running.http, "/", value).json() == (value + 1) * 2
        replicas = [p for p in running.status["processes"] if p["name"].startswith("replica")]
        ingress = running.pids("ingress")[0]
        directory = _calls_dir(running, ingress)
        assert directory is not None
        for replica in replicas:
            assert _calls_dir(running, replica["pid"]) == directory
        paths = [socket_path(directory, replica["address"]) for replica in replicas]
        assert sorted(p.name for p in directory.iterdir()) == sorted(p.name for p in paths)
        # Each replica was called over its socket.
        assert all(_connected(path) >= 1 for path in paths), Path("/proc/net/unix").read_text()


def test_no_local_calls_keeps_grpc(tmp_path: Path) -> None:
    with braid_run([CHAIN], tmp_path, "--no-local-calls") as running:
        assert post_json(running.http, "/", 5).json() == 12
        assert all(_calls_dir(running, pid) is None for pid in running.pids())


def test_the_pod_layout_keeps_grpc_between_pods(tmp_path: Path) -> None:
    # It stands for pods on a cluster, where replicas call each other over gRPC.
    with braid_run([CHAIN], tmp_path, "--layout", "pod") as running:
        assert post_json(running.http, "/", 5).json() == 12
        assert running.pids()
        assert all(_calls_dir(running, pid) is None for pid in running.pids())


SLOW_CODE = """
import time

class Front:
    def relay(self, value):
        return value

class Slow:
    def work(self, value):
        if value == "hang":
            time.sleep(60)
        return value
"""

SLOW_GRAPH = """
apiVersion: braid.dev/v1alpha1
kind: DeploymentGraph
metadata: {name: doomed}
spec:
  nodes:
    - {name: front, class: "slow_nodes:Front"}
    - {name: slow, class: "slow_nodes:Slow"}
  flow:
    input: value
    steps:
      - {name: first, call: front.relay, args: [$value]}
      - {name: second, call: slow.work, args: [$first]}
    output: $second
"""


def test_a_replica_killed_mid_call_fails_that_call_and_its_restart_serves(tmp_path: Path) -> None:
    code = tmp_path / "graph"
    code.mkdir()
    (code / "slow_nodes.py").write_text(textwrap.dedent(SLOW_CODE))
    (code / "graph.yaml").write_text(textwrap.dedent(SLOW_GRAPH))
    with braid_run([code / "graph.yaml"], tmp_path / "run") as running:
        assert post_json(running.http, "/", "ok").json() == "ok"
        [victim] = running.pids("doomed/slow")
        directory = _calls_dir(running, victim)
        assert directory is not None
        outcome: list[Reply] = []
        caller = threading.Thread(
            target=lambda: outcome.append(post_json(running.http, "/", "hang")), daemon=True
        )
        caller.start()
        time.sleep(2.0)  # the call is in the slow node's code by now
        began = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        caller.join(timeout=30)
        assert outcome, "the call hung after its replica died"
        failed = time.monotonic() - began
        assert outcome[0].status == 503, outcome[0].body
        error = outcome[0].json()["error"]
        assert 'node "slow"' in error["message"], error
        assert failed < 30  # not the 60 s the code would have slept, nor the request timeout
        assert wait_gone([victim]) == []
        # braid run restarts it on its port; the new replica's socket serves the next calls.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            reply = post_json(running.http, "/", "again")
            if reply.status == 200:
                break
            time.sleep(0.5)
        assert reply.status == 200 and reply.json() == "again", reply.body
