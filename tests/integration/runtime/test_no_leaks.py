"""Children die with their parent in every case: run() without close(), a caller killed with
SIGKILL, and braid run itself killed with SIGKILL (whose temporary folder the next run sweeps)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edge_harness import EXAMPLES, braid_run, pid_alive, wait_gone

from braid.runtime._local.workdirs import sweep_stale

CALLER = """
import json, sys, time
import braid.runtime
app = braid.runtime.run(sys.argv[1])
assert app.remote(1).result() is not None
print(json.dumps({"pids": app.pids, "run": app._process.pid}), flush=True)
if sys.argv[2] == "sleep":
    time.sleep(600)
"""


def _caller(mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CALLER, str(EXAMPLES / "hello" / "graph.yaml"), mode],
        stdout=subprocess.PIPE,
        text=True,
    )


def _pids(caller: subprocess.Popen[str]) -> list[int]:
    assert caller.stdout is not None
    line = caller.stdout.readline()
    assert line, "the caller did not start the graph"
    found = json.loads(line)
    return [*found["pids"], found["run"]]


def test_run_without_close_stops_everything_at_interpreter_exit() -> None:
    caller = _caller("exit")
    pids = _pids(caller)
    assert caller.wait(60) == 0
    assert wait_gone(pids) == []


def test_a_caller_killed_with_sigkill_takes_its_graph_along() -> None:
    caller = _caller("sleep")
    pids = _pids(caller)
    caller.kill()
    caller.wait()
    assert wait_gone(pids) == []


def test_braid_run_killed_with_sigkill_leaves_no_process_and_its_folder_is_swept(
    tmp_path: Path,
) -> None:
    with braid_run([EXAMPLES / "hello" / "graph.yaml"], tmp_path) as running:
        pids = running.pids()
        launcher = running.process.pid
        folders = list(Path(tempfile.gettempdir()).glob(f"braid-run-{launcher}-*"))
        assert len(folders) == 1
        os.kill(launcher, signal.SIGKILL)
        running.process.wait()
        assert wait_gone(pids) == []
        assert not any(pid_alive(pid) for pid in pids)
        end = time.monotonic() + 10
        while folders[0] not in sweep_stale() and time.monotonic() < end:
            time.sleep(0.1)
        assert not folders[0].exists()
