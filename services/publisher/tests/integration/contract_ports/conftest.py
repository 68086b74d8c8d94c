"""The DolphinScheduler ports under test: the in-memory fake, and the real clients against the DS emulator."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from common.dolphin.gateway import DolphinGatewayClient
from common.dolphin.rest import DolphinRestClient
from ds_emulator import EmulatorProcess
from publisher.ports import DolphinGateway, DolphinRest
from publisher_testing.fakes import FakeDolphin


@dataclass
class Ports:
    gateway: DolphinGateway
    rest: DolphinRest
    user: str
    project_name: str
    add_datasource: Callable[[str, str], object]


@pytest.fixture(params=["fake", "emulator"])
async def ports(request: pytest.FixtureRequest) -> AsyncIterator[Ports]:
    project = f"ports-{uuid.uuid4().hex[:8]}"
    if request.param == "fake":
        fake = FakeDolphin()
        yield Ports(fake.gateway, fake.rest, "admin", project, fake.add_datasource)
        return
    emulator: EmulatorProcess = request.getfixturevalue("ds_emulator_fresh")
    async with (
        DolphinRestClient.create(emulator.rest_url, SecretStr(emulator.access_token)) as rest,
        DolphinGatewayClient(emulator.host, emulator.gateway_port, SecretStr(emulator.auth_token)) as gateway,
    ):
        yield Ports(gateway, rest, "admin", project, emulator.add_datasource)
