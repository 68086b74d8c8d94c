"""Scale-out tests: the platform with TWO instances of every service (``devstack.stack.Stack(replicas=…)``) as OS
processes on the session's real PostgreSQL and Kafka, a DS emulator of its own and a local IM webhook behind the
alerting service.

Instance ``i`` of a service calls instance ``i`` of the others (``Stack.peer``), all instances of a service share its
schema and consumer group, and the topics get the production partition counts (``common.events.Topics.PARTITIONS``),
so that both consumers of a group get partitions. Leases and retries are short (settings through the environment, as
in a deployment) so that a killed replica's work is taken over within seconds; the Kafka consumers keep the
production session timeout (a killed member leaves its group ~10 s later).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from common.dolphin.rest import DolphinRestClient
from common.events import Topics
from common.testing.gateway_api import GatewayApi
from common.testing.im_webhook import ImWebhook
from devstack.stack import QUICK, QUICK_RECOVERY, SPECS, DsEndpoint, Stack, fresh_log_dir, merge_env
from ds_emulator import EmulatorProcess

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "scale"

#: on top of devstack.stack.QUICK and QUICK_RECOVERY: a dead publisher's record is re-run by the other one after 4 s
#: without a heartbeat
FAST: dict[str, dict[str, str]] = {"publisher": {"PUBLISHER_PUBLISH_LEASE_S": "4"}}
#: every service twice
REPLICAS = dict.fromkeys(SPECS, 2)


def uid() -> str:
    return uuid.uuid4().hex[:8]


@dataclass
class ReplicaStack:
    procs: Stack
    emulator: EmulatorProcess
    im: ImWebhook

    def gateway(self, instance: str) -> GatewayApi:
        """A client of one gateway instance's API, as the bootstrap admin (close its ``client``)."""
        headers = {"Authorization": f"Bearer {self.procs.admin_token}"}
        return GatewayApi(httpx.AsyncClient(base_url=self.procs.url(instance), headers=headers, timeout=60.0))

    def ds(self) -> DolphinRestClient:
        return DolphinRestClient.create(self.emulator.rest_url, SecretStr(self.emulator.access_token))


@pytest.fixture(scope="session")
def replica_stack(postgres_admin_url: str, kafka_bootstrap: str) -> Iterator[ReplicaStack]:
    log_dir = fresh_log_dir(ARTIFACTS)
    with EmulatorProcess(log_path=log_dir / "ds-emulator.log") as emulator, ImWebhook() as im:
        emulator.configure(submitDelaySeconds=0.1, dispatchDelaySeconds=0.1, taskDurationSeconds=0.3)
        channels = {"alerting": {"ALERTING_CHANNELS": json.dumps([{"kind": "webhook", "name": "ops", "url": im.url}])}}
        procs = Stack(
            postgres_admin_url,
            kafka_bootstrap,
            DsEndpoint.of(emulator, f"scale-{uid()}"),
            log_dir,
            env=merge_env(QUICK, QUICK_RECOVERY, FAST, channels),
            tag="scale",
            replicas=REPLICAS,
            partitions=dict(Topics.PARTITIONS),
        )
        try:
            with procs.started():
                yield ReplicaStack(procs, emulator, im)
        finally:
            procs.drop_topics()
