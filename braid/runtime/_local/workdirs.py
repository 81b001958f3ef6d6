"""Working folders of ``braid run`` and ``run()``, the sweep of those a killed run left, and
the manifests that ``run()`` builds from graphs declared in Python.

``braid run``'s shared-memory folder (decision 0012) lives in ``/dev/shm`` under the same kind
of name, and a later run sweeps it the same way.

A run that is killed with SIGKILL cannot remove its temporary folder (peers files, the status
file). Each folder's name carries the pid of the process that made it
(``braid-run-<pid>-<random>``), so the next run removes every such folder whose process is gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from braid.authoring import Graph

#: The prefixes of folders that a later run may sweep.
PREFIXES = ("braid-run-", "braid-app-")


def work_dir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    """A temporary folder named after this process, sweeping stale ones first."""
    sweep_stale()
    return tempfile.TemporaryDirectory(prefix=f"{prefix}{os.getpid()}-")


#: Where shared-memory folders go: a tmpfs on Linux.
SHARED_MEMORY_ROOT = Path("/dev/shm")  # noqa: S108 - a folder of our own is made inside it


def shared_memory_dir() -> tempfile.TemporaryDirectory[str] | None:
    """A fresh folder in ``/dev/shm`` named after this process, or None where there is none
    (then values cross between processes over gRPC only)."""
    if not SHARED_MEMORY_ROOT.is_dir() or not os.access(SHARED_MEMORY_ROOT, os.W_OK):
        return None
    sweep_stale(SHARED_MEMORY_ROOT)
    return tempfile.TemporaryDirectory(prefix=f"braid-run-{os.getpid()}-", dir=SHARED_MEMORY_ROOT)


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


class Workdir:
    """A temporary folder for ``braid run``'s status file, and the manifests built for it.

    ``run()`` takes manifest paths and graphs declared in Python (:class:`braid.authoring.Graph`).
    A graph is built here and its manifest written *beside its code* (in the folder of the module
    that declared it, as a hidden ``.braid-<name>-*.yaml`` file), because ``braid run`` imports a
    manifest's node code from the manifest's folder. :meth:`cleanup` removes those files with
    the temporary folder.
    """

    def __init__(self) -> None:
        self._folder = work_dir("braid-app-")
        self.name = self._folder.name
        self._written: list[Path] = []

    def manifests(self, graphs: Sequence[str | Path | Graph]) -> list[str]:
        """A manifest path for each graph; cleans up and raises if a graph does not build."""
        try:
            return [self._manifest(graph) for graph in graphs]
        except BaseException:
            self.cleanup()
            raise

    def _manifest(self, graph: str | Path | Graph) -> str:
        if not isinstance(graph, Graph):
            return str(graph)
        text = graph.to_yaml()  # raises BuildInvalid, naming the source lines
        folder = graph.code_dir or Path.cwd()
        handle, name = tempfile.mkstemp(prefix=f".braid-{graph.name}-", suffix=".yaml", dir=folder)
        self._written.append(Path(name))
        with os.fdopen(handle, "w") as file:
            file.write(text)
        return name

    def cleanup(self) -> None:
        for path in self._written:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self._written.clear()
        self._folder.cleanup()
