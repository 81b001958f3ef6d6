"""Who listens on a port: the session's own listener counts, a reservation or a stranger not."""

from __future__ import annotations

import os
import socket
import sys

import pytest

from braid.runtime._local.listeners import port_owners
from braid.runtime._local.ports import PortReservations

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_a_listener_of_the_session_is_ours_and_of_another_session_is_not() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert port_owners(port, session=os.getsid(0)).ours is True
        stranger = port_owners(port, session=-1)
        assert stranger.ours is False
        assert os.getpid() in stranger.others


def test_a_reserved_port_that_nobody_listens_on_has_no_owner() -> None:
    reservations = PortReservations()
    try:
        port = reservations.reserve("127.0.0.1")
        owners = port_owners(port, session=os.getsid(0))
        assert (owners.ours, owners.others) == (False, ())
    finally:
        reservations.close()
