"""A replica whose sync threads all hang is restarted by braid run, which then serves again;
stopping braid run still leaves nothing behind (the hung threads do not hold SIGTERM up)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from edge_harness import GRAPHS, braid_run, post_json


def test_braid_run_restarts_a_wedged_replica(tmp_path: Path) -> None:
    with braid_run([GRAPHS / "hanging.yaml"], tmp_path) as running:
        assert post_json(running.http, "/hanging", {"method": "fast", "value": 1}).json() == 1
        [pid] = running.pids("hanging")

        def hang(value: int) -> int:
            return post_json(running.http, "/hanging", {"method": "hang", "value": value}).status

        with ThreadPoolExecutor(20) as pool:
            assert set(pool.map(hang, range(20))) == {504}
        answered = None
        end = time.monotonic() + 60
        while answered != 200 and time.monotonic() < end:
            time.sleep(0.5)
            answered = post_json(running.http, "/hanging", {"method": "fast", "value": 2}).status
        assert answered == 200, f"never served again:\n{running.log.read_text()[-3000:]}"
        log = running.log.read_text()
        assert "wedged" in log
        assert "Traceback" not in log
        # The status file follows restarts: the new replica's pid replaces the old one.
        status = json.loads((tmp_path / "status.json").read_text())
        [new_pid] = [p["pid"] for p in status["processes"] if "hanging" in p["name"]]
        assert new_pid != pid
        running.status["processes"] = [*status["processes"], {"name": "old", "pid": pid}]
