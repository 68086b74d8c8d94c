"""A start waits a moment for a port held only briefly (a client's self-connection during a restart), not forever."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from devstack import PortBusyError
from devstack._proc import ephemeral_port_range, port_has_listener, port_is_free, require_free_port
from devstack.kafka import KafkaServer
from devstack.paths import DEFAULT_KAFKA_PORT, DEFAULT_PG_PORT
from devstack.postgres import PostgresServer
from devstack.pytest_plugin import start_servers_left_stopped


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


def test_the_default_ports_lie_below_the_ephemeral_range() -> None:
    """A port the kernel may hand to a client's outgoing connection can be found taken when a server restarts: the
    defaults stay below Linux's default range (32768-60999) and below this machine's."""
    low = min(32768, (ephemeral_port_range() or (32768, 0))[0])
    assert max(DEFAULT_PG_PORT, DEFAULT_KAFKA_PORT, DEFAULT_KAFKA_PORT + 1) < low
    assert KafkaServer().port == DEFAULT_KAFKA_PORT or "DEVSTACK_KAFKA_PORT" in os.environ
    assert PostgresServer().port == DEFAULT_PG_PORT or "DEVSTACK_PG_PORT" in os.environ


def test_a_client_connection_on_a_port_is_no_listener() -> None:
    """Only a listener is a server in the way; a connection holding the port as its own goes away by itself."""
    sock, port = _held_port()
    with sock, socket.create_connection(("127.0.0.1", port)) as client:
        client_port = client.getsockname()[1]
        assert port_has_listener(port)
        assert not port_has_listener(client_port)
        assert not port_is_free("127.0.0.1", client_port)
    assert not port_has_listener(port)


class _Server:
    def __init__(self, running: bool) -> None:
        self.running = running
        self.starts = 0

    def is_running(self) -> bool:
        return self.running

    def start(self) -> bool:
        self.starts += 1
        self.running = True
        return True


def test_a_server_a_test_left_stopped_is_started_again_and_named() -> None:
    up, down = _Server(running=True), _Server(running=False)
    assert start_servers_left_stopped([up, None, down]) == ["_Server"]
    assert (up.starts, down.starts) == (0, 1)
    assert down.is_running()
    assert start_servers_left_stopped([up, down]) == []
