import socket

import pytest


def free_port() -> int:
    """Ask the OS for a free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def unused_tcp_port() -> int:
    return free_port()
