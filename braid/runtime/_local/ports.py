"""Ports for ``braid run``'s processes: bound once by the launcher, handed over, never guessed.

Picking a free port (bind to 0, read the number, close) and letting a child bind it later is a
race: in between, any outgoing connection on the machine may take the number as its ephemeral
port, and a 100-node graph picks 200 of them. Instead the launcher keeps a socket bound to each
port it picked, with ``SO_REUSEPORT`` and without listening, for as long as it runs. The child
binds the same port with ``SO_REUSEPORT`` too (``--reuse-port``), which Linux allows only to
sockets of the same user that all set the option; everything else (another program's ``bind``,
the kernel's choice of an ephemeral port) skips the port. A restarted child binds the same
port again, so peers keep their address. A port the user names (``--http 127.0.0.1:8000``) is
never reserved this way: it is checked, and a busy one is an error that says which flag to change.
"""

from __future__ import annotations

import socket


class PortReservations:
    """Ports held for the launcher's children until :meth:`close`."""

    def __init__(self) -> None:
        self._sockets: list[socket.socket] = []

    def reserve(self, host: str) -> int:
        """A port of ``host`` that stays ours (and our children's) until :meth:`close`."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, 0))
        except OSError:
            sock.close()
            raise
        self._sockets.append(sock)
        port: int = sock.getsockname()[1]
        return port

    def close(self) -> None:
        sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()

    def __len__(self) -> int:
        return len(self._sockets)
