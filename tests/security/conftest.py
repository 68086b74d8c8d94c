"""Black-box security probes against the running platform (``devstack.stack``): every service an OS process
with its production settings, each its own Kafka principal under the production ACLs (for this stack's topic
prefix), traces exported over OTLP to a sink that keeps them, alerting delivering to a webhook whose URL carries a
token. The probes only use what an attacker inside the cluster has: the services' ports, the broker, and whatever a
principal's credentials allow.
"""

from __future__ import annotations

import http.server
import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devstack.kafka import PRINCIPALS, KafkaServer
from devstack.paths import repo_root
from devstack.stack import QUICK, SPECS, DsEndpoint, Stack, merge_env
from ds_emulator import EmulatorProcess

ARTIFACTS = repo_root() / "test-artifacts" / "security"
#: the webhook token the alerting channel's URL carries (DingTalk style): it must show nowhere
WEBHOOK_TOKEN = "whk" + "7f3c9a1e5b2d4c6e8a0b1c2d3e4f5a6b"
#: the gateway's failed-sign-in window in this stack (short: the probes share one client address)
AUTH_WINDOW_S = 5
#: version events above this are refused by the broker (the outbox poison probe)
VERSION_TOPIC_MAX_BYTES = 200_000


@dataclass
class Recorder:
    """A local HTTP endpoint keeping every request body (the OTLP sink, the IM webhook)."""

    bodies: list[tuple[str, bytes]] = field(default_factory=list)
    server: http.server.ThreadingHTTPServer | None = None
    answer: bytes = b"{}"

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Recorder:
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                recorder.bodies.append((self.path, self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(recorder.answer)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@dataclass
class SecureStack:
    stack: Stack
    kafka: KafkaServer
    otlp: Recorder
    webhook: Recorder
    webhook_url: str

    def url(self, service: str) -> str:
        return self.stack.url(service)

    def topic(self, name: str) -> str:
        return f"{self.stack.topic_prefix}{name}"


@pytest.fixture(scope="session")
def secure(postgres_admin_url: str, kafka_bootstrap: str, kafka_server: KafkaServer) -> Iterator[SecureStack]:
    otlp = Recorder().start()
    webhook = Recorder(answer=json.dumps({"errcode": 0, "errmsg": "ok"}).encode()).start()
    webhook_url = f"{webhook.url}/robot/send?access_token={WEBHOOK_TOKEN}"
    services = tuple(SPECS)
    traced = {
        name: {
            f"{spec.env_prefix}OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url,
            f"{spec.env_prefix}OTEL_SAMPLING_RATIO": "1.0",
            f"{spec.env_prefix}OTEL_READ_SAMPLING_RATIO": "1.0",
        }
        for name, spec in SPECS.items()
    }
    traced["alerting"] |= {"ALERTING_CHANNELS": json.dumps([{"kind": "dingtalk", "url": webhook_url}])}
    traced["gateway"] |= {"GATEWAY_AUTH_FAILURE_WINDOW_S": str(AUTH_WINDOW_S)}
    users = {
        name: {k: v for k, v in kafka_server.client_env(name).items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
        for name in services
        if name in PRINCIPALS
    }
    log_dir = ARTIFACTS / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "ds-emulator.log").unlink(missing_ok=True)
    try:
        with EmulatorProcess(log_path=log_dir / "ds-emulator.log") as emulator:
            stack = Stack(
                postgres_admin_url,
                kafka_bootstrap,
                DsEndpoint.of(emulator, "sec-platform"),
                log_dir,
                services,
                merge_env(QUICK, traced),
                tag="sec",
                emulator=emulator,
                kafka_users=users,
                topic_config={"workflow.version.created": {"max.message.bytes": str(VERSION_TOPIC_MAX_BYTES)}},
            )
            with stack.started():
                emulator.configure(submitDelaySeconds=0.1, dispatchDelaySeconds=0.1, taskDurationSeconds=0.2)
                yield SecureStack(stack, kafka_server, otlp, webhook, webhook_url)
    finally:
        otlp.stop()
        webhook.stop()


def log_text(stack: SecureStack) -> str:
    return "\n".join(p.read_text(errors="replace") for p in Path(stack.stack.log_dir).glob("*.log"))


def new_workflow(
    api: Any, *, scripts: tuple[str, ...] = ("echo a", "echo b"), name: str | None = None
) -> dict[str, Any]:
    """Tasks and a workflow (a chain of them) through the gateway; returns the workflow."""
    import uuid

    tag = uuid.uuid4().hex[:8]
    ids = []
    for i, script in enumerate(scripts):
        r = api.post(
            "/api/v1/tasks", json={"name": f"sec-{tag}-{i}", "task_type": "SHELL", "params": {"script": script}}
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    edges = [{"upstream_task_id": a, "downstream_task_id": b} for a, b in itertools.pairwise(ids)]
    r = api.post(
        "/api/v1/workflows",
        json={"name": name or f"sec-{tag}", "tasks": [{"task_id": t} for t in ids], "edges": edges},
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def approve_and_publish(api: Any, workflow: dict[str, Any], operation: str = "deploy") -> dict[str, Any]:
    import time

    r = api.post(f"/api/v1/workflows/{workflow['id']}/approve", json={"version_no": workflow["current_version_no"]})
    assert r.status_code == 200, r.text
    r = api.post(f"/api/v1/workflows/{workflow['id']}/publish", json={"operation": operation})
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        detail: dict[str, Any] = api.get(f"/api/v1/workflows/{workflow['id']}").json()
        if detail["publish_status"] in ("published", "failed"):
            return detail
        time.sleep(0.3)
    raise AssertionError(f"workflow {workflow['id']} was not published within a minute")
