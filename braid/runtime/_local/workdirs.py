"""Working folders of ``braid run`` and ``run()``, and the sweep of those a killed run left.

A run that is killed with SIGKILL cannot remove its temporary folder (peers files, the status
file). Each folder's name carries the pid of the process that made it
(``braid-run-<pid>-<random>``), so the next run removes every such folder whose process is gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

#: The prefixes of folders that a later run may sweep.
PREFIXES = ("braid-run-", "braid-app-")


def work_dir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    """A temporary folder named after this process, sweeping stale ones first."""
    sweep_stale()
    return tempfile.TemporaryDirectory(prefix=f"{prefix}{os.getpid()}-")


def sweep_stale(root: Path | None = None) -> list[Path]:
    """Remove folders of ours whose process no longer runs; returns what was removed."""
    root = root or Path(tempfile.gettempdir())
    removed = []
    with contextlib.suppress(OSError):
        for entry in root.iterdir():
            prefix = next((p for p in PREFIXES if entry.name.startswith(p)), None)
            if prefix is None or not entry.is_dir() or entry.stat().st_uid != os.getuid():
                continue
            pid = entry.name.removeprefix(prefix).split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
