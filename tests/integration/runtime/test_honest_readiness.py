"""Readiness is honest (issue 9, item 8): `braid run` never reports ready, nor writes its status
file, while a process it started is crash-looping on "address already in use" and something else
answers its readiness probe on that port. Also: with both listeners off, it refuses before it
starts anything."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from edge_harness import ROOT, START_TIMEOUT, pid_alive, stop_run

# A model server that finds its port taken: the first time it starts, it leaves behind a stale
# server of its own (detached into a session of its own, as a process of an earlier run would
# be) that answers every GET with 200; then, like every later start, it fails to bind the port.
SERVER = """
import http.server, os, subprocess, sys, time
from pathlib import Path

port = int(os.environ["PORT"])
squatter = Path("squatter.pid")
if not squatter.exists():
    stale = subprocess.Popen([sys.executable, "stale.py", str(port)], start_new_session=True)
    squatter.write_text(str(stale.pid))
    while not Path("stale.listening").exists():
        time.sleep(0.05)
http.server.HTTPServer(("127.0.0.1", port), http.server.BaseHTTPRequestHandler)
"""

STALE = """
import http.server, sys
from pathlib import Path


class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Answer)
Path("stale.listening").touch()
server.serve_forever()
"""

GRAPH = """
apiVersion: braid.dev/v1alpha1
kind: DeploymentGraph
metadata: {name: squatted}
spec:
  nodes:
    - name: model
      http:
        port: 8081
        command: [python, server.py]
        readinessPath: /healthz
        methods: [{name: predict, path: /predict}]
  flow:
    steps:
      - {name: scores, call: model.predict, args: [$input]}
    output: $scores
"""


def test_a_crash_looping_process_whose_port_answers_is_never_ready(tmp_path: Path) -> None:
    (tmp_path / "server.py").write_text(SERVER)
    (tmp_path / "stale.py").write_text(STALE)
    (tmp_path / "graph.yaml").write_text(GRAPH)
    status_file, log = tmp_path / "status.json", tmp_path / "braid-run.log"
    argv = [sys.executable, "-m", "braid", "run", str(tmp_path / "graph.yaml")]
    argv += ["--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--status-file", str(status_file)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*argv, "--startup-timeout", "60"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        # Bounded by braid run's own start-up timeout; the test only waits for an outcome.
        end = time.monotonic() + START_TIMEOUT
        while process.poll() is None and not status_file.exists() and time.monotonic() < end:
            time.sleep(0.1)
        assert not status_file.exists(), "braid run reported ready over a crash loop"
        assert process.wait(60) == 1
        text = log.read_text()
        stale = int((tmp_path / "squatter.pid").read_text())
        assert "model server squatted/model#0 exited with code 1 while starting" in text
        assert f"is held by another process (pid {stale})" in text
        assert "braid: ready" not in text
        assert "Traceback" not in text.split("model server squatted/model#0 exited")[-1]
    finally:
        stop_run(process)
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            stale = int((tmp_path / "squatter.pid").read_text())
            os.kill(stale, signal.SIGKILL)
            while pid_alive(stale):
                time.sleep(0.05)


def test_with_both_listeners_off_nothing_starts(tmp_path: Path) -> None:
    marker = tmp_path / "constructed"
    graph = tmp_path / "graph.yaml"
    graph.write_text(
        GRAPH.replace("metadata: {name: squatted}", "metadata: {name: listeners}")
        .replace(
            """      http:
        port: 8081
        command: [python, server.py]
        readinessPath: /healthz
        methods: [{name: predict, path: /predict}]""",
            f"""      class: marking:Marking
      init: {{path: "{marker}"}}""",
        )
        .replace("model.predict", "model.run")
    )
    (tmp_path / "marking.py").write_text(
        "from pathlib import Path\n\n\nclass Marking:\n"
        "    def __init__(self, path):\n        Path(path).touch()\n\n"
        "    def run(self, value):\n        return value\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "braid", "run", str(graph), "--http", "off", "--grpc", "off"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 1
    assert "nothing to serve: both --http and --grpc are off" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists(), "a replica was started before refusing"
