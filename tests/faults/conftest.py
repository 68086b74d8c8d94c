"""Fault tests: the platform as OS processes (``devstack.stack``) on the session's real PostgreSQL and
Kafka, a DS emulator of its own (whose fault injection plays DS's errors and stalls) and a local IM webhook behind
the alerting service. The tests kill and restart services, and stop and restart PostgreSQL and Kafka.

One stack serves the whole module set (starting six services costs ~20 s of CPU): each test makes its own
workflows, and ``healthy_stack`` (autouse) clears the emulator's faults and brings back whatever a test stopped, so a
failed test does not take the next one down with it. Leases, retries and backoffs are short (settings through the
environment, as in a deployment) so that each scenario takes seconds, not the production minutes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from common.dolphin import DagData
from common.dolphin.rest import DolphinRestClient
from common.testing.gateway_api import GatewayApi
from common.testing.im_webhook import ImWebhook
from devstack.stack import QUICK, QUICK_RECOVERY, DsEndpoint, Stack, fresh_log_dir, merge_env
from ds_emulator import EmulatorProcess

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "faults"

#: settings of the fault stack on top of devstack.stack.QUICK and QUICK_RECOVERY
FAST: dict[str, dict[str, str]] = {
    "publisher": {"PUBLISHER_INSTANCE_ID": "publisher-a"},
    # the Kafka fault test watches this service's consumer lag gauge around a broker restart
    "definition": {"DEFINITION_KAFKA_LAG_INTERVAL_S": "0.5"},
}


def uid() -> str:
    return uuid.uuid4().hex[:8]


@dataclass
class FaultStack:
    procs: Stack
    emulator: EmulatorProcess
    im: ImWebhook

    @property
    def api_url(self) -> str:
        return self.procs.url("gateway")

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        """A client of the gateway's API (as the bootstrap admin unless ``token`` says otherwise)."""
        headers = {"Authorization": f"Bearer {token or self.procs.admin_token}"}
        return httpx.AsyncClient(base_url=self.api_url, headers=headers, timeout=30.0)

    def ds(self) -> DolphinRestClient:
        return DolphinRestClient.create(self.emulator.rest_url, SecretStr(self.emulator.access_token))


async def ds_workflow(stack: FaultStack, detail: dict[str, Any]) -> DagData:
    """What DS holds for the workflow (read straight from the emulator's REST API)."""
    async with stack.ds() as ds:
        return await ds.get_workflow_definition(int(detail["project_code"]), int(detail["workflow_code"]))


@pytest.fixture(scope="session")
def fault_stack(postgres_admin_url: str, kafka_bootstrap: str) -> Iterator[FaultStack]:
    log_dir = fresh_log_dir(ARTIFACTS)
    with (
        EmulatorProcess(log_path=log_dir / "ds-emulator.log") as emulator,
        ImWebhook() as im,
    ):
        emulator.configure(submitDelaySeconds=0.1, dispatchDelaySeconds=0.1, taskDurationSeconds=0.3)
        channels = {"alerting": {"ALERTING_CHANNELS": json.dumps([{"kind": "webhook", "name": "ops", "url": im.url}])}}
        ds = DsEndpoint.of(emulator, f"faults-{uid()}")
        env = merge_env(QUICK, QUICK_RECOVERY, FAST, channels)
        procs = Stack(postgres_admin_url, kafka_bootstrap, ds, log_dir, env=env)
        with procs.started():
            yield FaultStack(procs, emulator, im)


@pytest.fixture(autouse=True)
def healthy_stack(request: pytest.FixtureRequest) -> Iterator[None]:
    """Before and after each fault test: no emulator fault left, PostgreSQL and Kafka up, every service running."""
    if "fault_stack" not in request.fixturenames:
        yield
        return
    stack: FaultStack = request.getfixturevalue("fault_stack")
    _heal(request, stack)
    yield
    _heal(request, stack)


def _heal(request: pytest.FixtureRequest, stack: FaultStack) -> None:
    stack.emulator.clear_faults()
    for fixture in ("postgres_server", "kafka_server"):
        if fixture in request.fixturenames:
            server = request.getfixturevalue(fixture)
            if not server.is_running():
                server.start()
    stack.procs.start()


@pytest.fixture
async def api(fault_stack: FaultStack) -> AsyncIterator[GatewayApi]:
    async with fault_stack.client() as client:
        yield GatewayApi(client)
