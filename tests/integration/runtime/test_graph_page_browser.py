"""The live graph page in a real browser (headless Chromium) against `braid run`, under load.

`braid run examples/content-understanding/graph.yaml` serves while a thread sends requests with
many image seeds (so that the dispatcher reaches every classifier). Chromium loads
``/-/graph``, runs the page's script, and the test reads the DOM it ends with: every node's
vertex must show its figures, with its replicas ready and requests counted, and the table must
list every node. It also takes a screenshot (kept in the test's temporary folder; the one in
docs/ was taken the same way).

Marked ``browser``: scripts/check runs it (scripts/setup installs Debian's chromium); deselect it
with ``-m "not browser"`` while iterating.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest
from edge_harness import braid_run, example_copy

pytestmark = pytest.mark.browser

NODES = [
    "downloader",
    "preprocessor",
    "segmentation",
    "integrity",
    "dispatcher",
    "fruit",
    "car",
    "general",
    "aggregate",
]


class _PageReader(HTMLParser):
    """The figure lines of each node's vertex, and the table's rows, from the final DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, list[str]] = {}
        self.rows: dict[str, list[str]] = {}
        self._node: str | None = None
        self._in_figures = False
        self._row: str | None = None
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "g" and found.get("data-node"):
            self._node = found["data-node"]
            self.figures.setdefault(str(self._node), [])
        elif tag == "text" and found.get("class") == "figures" and self._node is not None:
            self._in_figures = True
            self.figures[self._node].append("")
        elif tag == "tr" and found.get("data-node"):
            self._row = str(found["data-node"])
            self.rows[self._row] = []
        elif tag == "td" and self._row is not None:
            self._in_cell = True
            self.rows[self._row].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "g":
            self._node = None
        elif tag == "text":
            self._in_figures = False
        elif tag == "tr":
            self._row = None
        elif tag == "td":
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_figures and self._node is not None:
            self.figures[self._node][-1] += data
        elif self._in_cell and self._row is not None:
            self.rows[self._row][-1] += data


def _problems(reader: _PageReader) -> list[str]:
    """What the page fails to show: every node drawn with its figures, and counted in the table."""
    found = []
    if set(reader.figures) != set(NODES):
        found.append(f"drawn nodes {sorted(reader.figures)}")
    for node, lines in reader.figures.items():
        ready = re.match(r"(\d+)/(\d+) ready · [\d.]+ req/s", lines[0]) if len(lines) == 2 else None
        latency = re.match(
            r"p50 ([\d.]+|-) · p99 ([\d.]+|-) ms · \d+\+\d+ busy", lines[-1] if lines else ""
        )
        if ready is None or int(ready[1]) < 1 or latency is None:
            found.append(f"{node}: figures {lines}")
    if set(reader.rows) != set(NODES):
        found.append(f"table rows {sorted(reader.rows)}")
    for node, cells in reader.rows.items():
        if len(cells) < 10 or float(cells[9]) <= 0:
            found.append(f"{node}: row {cells}")
    return found


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is not installed; scripts/setup installs Debian's chromium"
    return found


def _browse(url: str, *mode: str) -> subprocess.CompletedProcess[str]:
    argv = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    argv += ["--window-size=1200,950", "--virtual-time-budget=8000", *mode, url]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def _load(address: str, stop: threading.Event) -> None:
    seed = 0
    while not stop.is_set():
        seed += 1
        body = json.dumps(f"synthetic://load-{seed}").encode()
        request = urllib.request.Request(f"http://{address}/content", data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                reply.read()
        except OSError:
            time.sleep(0.1)


def test_the_live_page_draws_every_node_with_figures_in_a_real_browser(tmp_path: Path) -> None:
    work = tmp_path / "run"
    files = [example_copy("content-understanding", work, route="/content")]
    with braid_run(files, work) as running:
        stop = threading.Event()
        loaders = [threading.Thread(target=_load, args=(running.http, stop)) for _ in range(2)]
        for loader in loaders:
            loader.start()
        try:
            page = f"http://{running.http}/-/graph"
            figures_url = f"{page}/content-understanding/figures.json"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with urllib.request.urlopen(figures_url, timeout=10) as reply:
                    nodes = json.loads(reply.read())["nodes"]
                if all(nodes[node]["requests"] > 0 for node in NODES):
                    break
                time.sleep(0.5)
            # Readiness may flap on a loaded machine, and a replica that is not ready is not
            # scraped: read the page again (at most three times) until every node shows figures.
            for _ in range(3):
                dom = _browse(page, "--dump-dom")
                reader = _PageReader()
                reader.feed(dom.stdout)
                if not _problems(reader):
                    break
            shot = tmp_path / "graph-page.png"
            picture = _browse(page, f"--screenshot={shot}")
        finally:
            stop.set()
            for loader in loaders:
                loader.join(timeout=60)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert _problems(reader) == []
    assert picture.returncode == 0, picture.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a drawn page, not a blank one
