"""Start-up and model-server failures under `braid run`, each a clean one-line error with no
traceback of braid's: an `http.command` that does not exist, a model server that answers with
a malformed chunked body, and a node's `startupSeconds` as its processes' start-up timeout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from edge_harness import ROOT, braid_run, post_json

GRAPH = """
apiVersion: braid.dev/v1alpha1
kind: DeploymentGraph
metadata: {name: served}
spec:
  nodes:
    - name: model
      http:
        port: 8081
        command: COMMAND
        readinessPath: /healthz
        methods: [{name: predict, path: /predict}]
  flow:
    steps:
      - {name: scores, call: model.predict, args: [$input]}
    output: $scores
  ingress:
    http: {routePrefix: /served}
"""

# Ready at once; every POST gets a chunked body whose chunk size is not hexadecimal.
BAD_CHUNKS = """
import http.server, os


class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"zz\\r\\n[1, 2]\\r\\n0\\r\\n\\r\\n")

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Answer).serve_forever()
"""

WAITING = """
apiVersion: braid.dev/v1alpha1
kind: DeploymentGraph
metadata: {name: waiting}
spec:
  nodes:
    - {name: loader, class: "waiting:Loader", startupSeconds: 10}
  flow:
    steps:
      - {name: loaded, call: loader.run, args: [$input]}
    output: $loaded
"""


LISTEN = ("--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0")


def _run(graph: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "braid", "run", str(graph), *LISTEN, *extra],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )


def test_an_http_command_that_does_not_exist_is_one_line_naming_node_and_command(
    tmp_path: Path,
) -> None:
    graph = tmp_path / "graph.yaml"
    graph.write_text(GRAPH.replace("COMMAND", "[no-such-model-server, --port, '1']"))
    result = _run(graph)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        "braid: model server served/model#0 could not start: 'no-such-model-server' "
        f'(in {tmp_path}): No such file or directory; check http.command of node "model"'
    ) in result.stderr


def test_a_malformed_chunked_response_is_a_500_naming_the_node(tmp_path: Path) -> None:
    (tmp_path / "server.py").write_text(BAD_CHUNKS)
    graph = tmp_path / "graph.yaml"
    graph.write_text(GRAPH.replace("COMMAND", "[python, server.py]"))
    with braid_run([graph], tmp_path / "work") as running:
        reply = post_json(running.http, "/served", {"x": 1})
        assert reply.status == 500, reply.body
        error = reply.json()["error"]
        assert (error["node"], error["step"]) == ("model", "scores")
        assert "malformed response from the model server (bad chunk size 'zz')" in error["message"]
        assert "grpc" not in error["message"].lower()
        assert "Traceback" not in running.log.read_text()


def test_a_nodes_startup_seconds_bounds_its_start_under_braid_run(tmp_path: Path) -> None:
    (tmp_path / "waiting.py").write_text(
        "import time\n\n\nclass Loader:\n    def __init__(self):\n        time.sleep(600)\n\n"
        "    def run(self, value):\n        return value\n"
    )
    graph = tmp_path / "graph.yaml"
    graph.write_text(WAITING)
    result = _run(graph, "--startup-timeout", "600")
    assert result.returncode == 1
    assert "braid: replica waiting/loader#0 was not ready after 10 s" in result.stderr
    assert "Traceback" not in result.stderr
