"""Resource limits before work: oversized bodies are refused before they are read (the gateway's memory stays where
it was), failed sign-ins are limited per client, and an event Kafka refuses does not stall a service's outbox."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import asyncpg
import httpx
import psutil
from aiokafka import ConsumerRecord

from common.db import asyncpg_dsn
from common.events import Topics, WorkflowVersionCreated, registry
from common.testing.kafka_helpers import eventually, read_topic

from .conftest import AUTH_WINDOW_S, VERSION_TOPIC_MAX_BYTES, SecureStack, new_workflow

MB = 1024 * 1024


def _rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    yield b'{"name": "'
    for _ in range(total // size):
        yield b"x" * size
    yield b'"}'


def _raw_post(url: str, path: str, length: int, headers: dict[str, str]) -> int:
    """A POST announcing ``length`` bytes of body: the headers and the first megabyte are sent, then the answer is
    read (a server that reads the body first waits for the rest and answers nothing within the timeout)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json", f"Content-Length: {length}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            for _ in range(16):
                sock.sendall(b"[" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(15)
        return int(sock.recv(64).split()[1])


def test_oversized_bodies_are_413_before_they_are_read_with_bounded_memory(secure: SecureStack) -> None:
    gateway = secure.stack.pid("gateway")
    before = _rss(gateway)
    admin = {"Authorization": f"Bearer {secure.stack.admin_token}"}
    for headers in ({}, admin):
        assert _raw_post(secure.stack.base_url, "/api/v1/workflows", 20 * MB, headers) == 413
    # no length: a chunked 20 MB body is cut at the limit
    for headers in ({}, admin):
        r = httpx.post(f"{secure.stack.base_url}/api/v1/tasks", content=_chunks(20 * MB), headers=headers, timeout=60)
        assert r.status_code in (401, 413), r.status_code  # without a key: refused for the key first
        if headers:
            assert r.status_code == 413
    growth = _rss(gateway) - before
    # the baseline: +190 MB for one unauthenticated 20 MB body, +882 MB with a key
    assert growth < 40 * MB, f"the gateway grew by {growth / MB:.0f} MB"
    # a service reached directly refuses the same way, before the identity check reads anything
    assert _raw_post(secure.url("definition"), "/internal/workflows", 20 * MB, {}) == 413


def test_failed_sign_ins_are_limited_per_client(secure: SecureStack) -> None:
    """At most 10 failed authentications per client within the window (5 s in this stack): then 429, for any key,
    until the oldest failure leaves the window."""
    with httpx.Client(base_url=secure.stack.base_url, timeout=10) as client:
        time.sleep(AUTH_WINDOW_S)  # earlier probes of this session failed some sign-ins from this client too
        statuses = [
            client.get("/api/v1/me", headers={"Authorization": f"Bearer adm_guess-{i:04d}-000000000000"}).status_code
            for i in range(12)
        ]
        assert statuses[:10] == [401] * 10
        assert statuses[10:] == [429, 429]
        r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secure.stack.admin_token}"})
        assert r.status_code == 429  # even the right key, from this client, until the window has passed
        assert 1 <= int(r.headers["retry-after"]) <= AUTH_WINDOW_S
        time.sleep(AUTH_WINDOW_S + 0.5)
        assert (
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {secure.stack.admin_token}"}).status_code == 200
        )


async def test_an_event_kafka_refuses_is_parked_and_the_outbox_flows_on(secure: SecureStack) -> None:
    """``workflow.version.created`` is limited to 200 kB in this stack: a workflow whose first version is larger
    cannot be announced. Its event is parked with the reason and the events after it are delivered."""
    big = "echo " + "x" * 120_000
    with secure.stack.client() as api:
        large = new_workflow(api, scripts=(big, big))
        small = new_workflow(api)

    def announced(records: list[ConsumerRecord]) -> set[int]:
        events = (registry.decode(r.value)[1] for r in records)
        return {e.workflow_id for e in events if isinstance(e, WorkflowVersionCreated)}

    # the small workflow's event comes after the large one's in the outbox: once it is on the topic, the relay has
    # dealt with the large one (a loaded machine may take a while: wait for it, not for a fixed time)
    records = await read_topic(
        secure.kafka.client_options("admin")["bootstrap_servers"],
        secure.topic(Topics.WORKFLOW_VERSION_CREATED),
        expect=1000,
        timeout_s=90,
        until=lambda rs: small["id"] in announced(rs),
    )
    assert small["id"] in announced(records)
    assert large["id"] not in announced(records)
    db = secure.stack.databases["definition"]
    url, schema = db.url.get_secret_value(), db.schema
    conn = await asyncpg.connect(asyncpg_dsn(url))
    parked: list[asyncpg.Record] = []

    async def large_is_parked() -> bool:
        parked[:] = await conn.fetch(f'SELECT topic, reason, length(value) AS n FROM "{schema}".outbox_parked')
        return any(p["n"] > VERSION_TOPIC_MAX_BYTES for p in parked)

    try:
        await eventually(large_is_parked, timeout_s=30)
    finally:
        await conn.close()
    [row] = [p for p in parked if p["n"] > VERSION_TOPIC_MAX_BYTES]
    assert row["topic"] == secure.topic(Topics.WORKFLOW_VERSION_CREATED)
    assert "MessageSizeTooLarge" in row["reason"]
    metrics = httpx.get(f"{secure.url('definition')}/metrics").text
    assert any(line.startswith("outbox_parked_total{") and not line.endswith(" 0.0") for line in metrics.splitlines())
