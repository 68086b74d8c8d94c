"""A start waits a moment for a port held only briefly (a client's self-connection during a restart), not forever."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from devstack import PortBusyError
from devstack._proc import port_is_free, require_free_port


def _held_port() -> tuple[socket.socket, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, sock.getsockname()[1]


def test_a_port_released_within_the_grace_is_accepted() -> None:
    sock, port = _held_port()
    release = threading.Timer(0.5, sock.close)
    release.start()
    started = time.monotonic()
    try:
        require_free_port("127.0.0.1", port, "Kafka", "DEVSTACK_KAFKA_PORT", grace_s=10.0, poll_s=0.05)
    finally:
        release.cancel()
        sock.close()
    waited = time.monotonic() - started
    assert 0.4 <= waited < 10.0
    assert port_is_free("127.0.0.1", port)


def test_a_port_held_past_the_grace_fails_with_the_setting_to_change() -> None:
    sock, port = _held_port()
    try:
        with pytest.raises(PortBusyError, match=rf"port {port}.*DEVSTACK_KAFKA_PORT"):
            require_free_port("127.0.0.1", port, "Kafka", "DEVSTACK_KAFKA_PORT", grace_s=0.3, poll_s=0.05)
    finally:
        sock.close()
