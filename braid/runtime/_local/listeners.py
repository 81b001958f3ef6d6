"""Who listens on a TCP port: the check behind honest readiness in ``braid run``.

A readiness probe only says that *something* answers on a port. When the process that was
started to serve it crashes at once ("address already in use") while a stale process of an
earlier run still answers there, the probe passes and ``braid run`` would report ready over a
crash loop. So the launcher also asks Linux which sockets listen on the port
(``/proc/net/tcp`` and ``tcp6``) and whether one of them belongs to the started process or to
something it started in turn (every child of ``braid run`` leads a session of its own, so that is
every process of the session). The launcher's own reservation of a port (bound, never
listening) does not count. Where ``/proc`` is missing (not Linux) the check is skipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's "st" column


@dataclass(frozen=True)
class PortOwners:
    """What listens on a port: whether the session is among it, and the pids seen listening."""

    #: Whether a process of the session listens on the port (None: cannot tell here).
    ours: bool | None
    #: Processes outside the session that listen on it (those this user may look at).
    others: tuple[int, ...] = ()


def port_owners(port: int, session: int) -> PortOwners:
    """Who listens on ``port``: the processes of ``session`` (a child's pid) or others."""
    tables = [_PROC / "net" / name for name in ("tcp", "tcp6")]
    if not any(table.exists() for table in tables):
        return PortOwners(ours=None)
    inodes = set()
    for table in tables:
        inodes |= _listening_inodes(table, port)
    if not inodes:
        return PortOwners(ours=False)
    ours, others = False, []
    for pid, pid_session in _processes():
        if not inodes & _socket_inodes(pid):
            continue
        if pid_session == session:
            ours = True
        else:
            others.append(pid)
    return PortOwners(ours=ours, others=tuple(sorted(others)))


def _listening_inodes(table: Path, port: int) -> set[int]:
    try:
        lines = table.read_text().splitlines()[1:]
    except OSError:
        return set()
    found = set()
    for line in lines:
        fields = line.split()
        if len(fields) < 10 or fields[3] != _LISTEN:
            continue
        if int(fields[1].rpartition(":")[2], 16) == port:
            found.add(int(fields[9]))
    return found


def _processes() -> list[tuple[int, int]]:
    """Every process this user can see, with its session id."""
    found = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields follow the last ")".
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 3:
            found.append((int(entry.name), int(fields[3])))
    return found


def _socket_inodes(pid: int) -> set[int]:
    folder = _PROC / str(pid) / "fd"
    try:
        names = os.listdir(folder)
    except OSError:  # gone, or another user's
        return set()
    inodes = set()
    for name in names:
        try:
            target = os.readlink(folder / name)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes
