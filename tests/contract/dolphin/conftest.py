"""Where DolphinScheduler is for the contract tests.

``ds_endpoint`` is the DS emulator by default. The tests only use our clients and create what they need (a project
per session, workflows with unique names), so they run unchanged against a real DS: set ``DS_CONTRACT_REST_URL``
(``http://host:12345/dolphinscheduler``), ``DS_CONTRACT_ACCESS_TOKEN``, ``DS_CONTRACT_GATEWAY_HOST``,
``DS_CONTRACT_GATEWAY_PORT``, ``DS_CONTRACT_GATEWAY_AUTH_TOKEN`` and optionally ``DS_CONTRACT_USER`` (default
``admin``) and ``DS_CONTRACT_DATASOURCE`` (``name:TYPE`` of an existing datasource, for the ``getDatasource`` test;
without it that test is skipped against a real DS), or override ``ds_endpoint`` in a closer conftest.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace

import pytest
from pydantic import SecretStr

from common.dolphin.gateway import DolphinGatewayClient
from common.dolphin.rest import DolphinRestClient
from ds_emulator import EmulatorProcess


@dataclass(frozen=True)
class DsTarget:
    rest_url: str
    access_token: SecretStr
    gateway_host: str
    gateway_port: int
    gateway_auth_token: SecretStr
    user_name: str
    project_name: str
    project_code: int = 0
    #: seconds to wait for an instance to finish (a real DS is slower than the emulator)
    run_timeout: float = 60.0


@pytest.fixture(scope="session")
def contract_ds_emulator() -> Iterator[EmulatorProcess]:
    """A dedicated emulator: other suites reset the shared ``ds_emulator`` between their tests."""
    with EmulatorProcess() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def ds_endpoint(request: pytest.FixtureRequest) -> DsTarget:
    project_name = f"contract-{uuid.uuid4().hex[:10]}"
    if os.environ.get("DS_CONTRACT_REST_URL"):
        return DsTarget(
            rest_url=os.environ["DS_CONTRACT_REST_URL"],
            access_token=SecretStr(os.environ["DS_CONTRACT_ACCESS_TOKEN"]),
            gateway_host=os.environ.get("DS_CONTRACT_GATEWAY_HOST", "127.0.0.1"),
            gateway_port=int(os.environ.get("DS_CONTRACT_GATEWAY_PORT", "25333")),
            gateway_auth_token=SecretStr(os.environ["DS_CONTRACT_GATEWAY_AUTH_TOKEN"]),
            user_name=os.environ.get("DS_CONTRACT_USER", "admin"),
            project_name=project_name,
            run_timeout=180.0,
        )
    emulator = request.getfixturevalue("contract_ds_emulator")
    return DsTarget(
        rest_url=emulator.rest_url,
        access_token=SecretStr(emulator.access_token),
        gateway_host=emulator.host,
        gateway_port=emulator.gateway_port,
        gateway_auth_token=SecretStr(emulator.auth_token),
        user_name="admin",
        project_name=project_name,
    )


@pytest.fixture(scope="session")
async def ds_gateway(ds_endpoint: DsTarget) -> AsyncIterator[DolphinGatewayClient]:
    async with DolphinGatewayClient(
        ds_endpoint.gateway_host, ds_endpoint.gateway_port, ds_endpoint.gateway_auth_token, read_timeout=60
    ) as client:
        yield client


@pytest.fixture(scope="session")
async def ds_rest(ds_endpoint: DsTarget) -> AsyncIterator[DolphinRestClient]:
    async with DolphinRestClient.create(ds_endpoint.rest_url, ds_endpoint.access_token) as client:
        yield client


@pytest.fixture(scope="session")
async def ds_target(ds_endpoint: DsTarget, ds_gateway: DolphinGatewayClient) -> DsTarget:
    """The endpoint plus a project of our own, created through the gateway as the publisher does."""
    await ds_gateway.create_or_grant_project(ds_endpoint.user_name, ds_endpoint.project_name, "contract tests")
    code = await ds_gateway.query_project_code(ds_endpoint.user_name, ds_endpoint.project_name)
    assert code is not None
    return replace(ds_endpoint, project_code=code)


@dataclass(frozen=True)
class KnownDatasource:
    name: str
    type: str


@pytest.fixture(scope="session")
def known_datasource(request: pytest.FixtureRequest, ds_endpoint: DsTarget) -> KnownDatasource:
    """A datasource that exists in DS: ``DS_CONTRACT_DATASOURCE`` on a real DS (creating one needs a database DS
    can reach), seeded through the emulator's control API otherwise."""
    if os.environ.get("DS_CONTRACT_REST_URL"):
        spec = os.environ.get("DS_CONTRACT_DATASOURCE", "")
        if ":" not in spec:
            pytest.skip("DS_CONTRACT_DATASOURCE (name:TYPE of an existing datasource) is not set")
        name, ds_type = spec.split(":", 1)
        return KnownDatasource(name, ds_type)
    emulator: EmulatorProcess = request.getfixturevalue("contract_ds_emulator")
    name = f"contract-ds-{uuid.uuid4().hex[:8]}"
    emulator.add_datasource(name, "POSTGRESQL")
    return KnownDatasource(name, "POSTGRESQL")
