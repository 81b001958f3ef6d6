"""Starting, talking to and stopping the processes of a benchmark (servers, drivers, clients).

Every long-running process is started in a session of its own, so that stopping it (SIGTERM to
its process group, by its id, then SIGKILL after a grace period) also stops whatever it started.
Its stderr goes to a log file whose tail is quoted when it fails. Reads from its stdout never
block past a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self


class LaunchError(RuntimeError):
    """A benchmark process failed to start, died, or did not answer in time."""


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


class Process:
    """One child process in its own session, with line-based stdout and a stderr log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_dir: Path,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        stdin: bool = False,
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._buffer = b""
        with self.log_path.open("wb") as log:
            self._popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self._popen.pid

    def _failure(self, what: str) -> LaunchError:
        tail = _tail(self.log_path)
        detail = f"\n{tail}" if tail else ""
        return LaunchError(f"{self.name}: {what} (log: {self.log_path}){detail}")

    def read_line(self, timeout: float, accept: Callable[[str], bool] = bool) -> str:
        """The next stdout line that ``accept`` takes; other lines are skipped."""
        stdout = self._popen.stdout
        if stdout is None:
            raise self._failure("has no stdout")
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\n", 1)
                line = raw.decode(errors="replace").strip()
                if accept(line):
                    return line
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._failure(f"no answer within {timeout:g} s")
            ready, _, _ = select.select([stdout.fileno()], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(stdout.fileno(), 65536)
                if not chunk:
                    self._popen.wait(timeout=5)
                    raise self._failure(f"exited with code {self._popen.returncode}")
                self._buffer += chunk

    def send(self, message: dict[str, Any]) -> None:
        """Write one JSON line to the process's stdin."""
        stdin = self._popen.stdin
        if stdin is None or self._popen.poll() is not None:
            raise self._failure("is not running")
        stdin.write(json.dumps(message).encode() + b"\n")
        stdin.flush()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the process to exit; True when it has."""
        try:
            self._popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    @property
    def running(self) -> bool:
        return self._popen.poll() is None

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM the process group, wait up to ``grace`` seconds, then SIGKILL it."""
        if self._popen.stdin is not None:
            with contextlib.suppress(OSError):
                self._popen.stdin.close()
        if self._popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._popen.pid, signal.SIGTERM)
            try:
                self._popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._popen.pid, signal.SIGKILL)
                self._popen.wait(timeout=5)
        # Children that outlived their leader are still in its group: end them too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, signal.SIGKILL)
        if self._popen.stdout is not None:
            self._popen.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def run_json(
    name: str, argv: Sequence[str], log_dir: Path, timeout: float, cwd: Path | None = None
) -> dict[str, Any]:
    """Run a process to its end and return the JSON object on the last line of its stdout."""
    with Process(name, argv, log_dir, cwd=cwd) as process:
        line = process.read_line(timeout, accept=lambda text: text.startswith("{"))
    parsed: dict[str, Any] = json.loads(line)
    return parsed
