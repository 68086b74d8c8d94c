"""The DolphinScheduler integration: datasources, and the integration config the publisher is started with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from common.db import unit_of_work
from common.dolphin import DolphinGatewayError
from publisher.db import repository as repo
from publisher.deps import Deps


class DatasourceView(BaseModel):
    name: str
    type: str
    exists: bool
    id: int | None = None


async def find_datasource(deps: Deps, name: str, datasource_type: str) -> DatasourceView:
    """Whether DS has the datasource a SQL task names (asked when the task is saved, so a missing one shows before
    the publish fails on it). DS answers an unknown one with a Java exception; any other failure is raised."""
    wanted = datasource_type.upper()
    try:
        found = await deps.gateway.get_datasource(name, wanted)
    except DolphinGatewayError as exc:
        if "not found" in exc.java_message.lower() or "can not find" in exc.java_message.lower():
            return DatasourceView(name=name, type=wanted, exists=False)
        raise
    return DatasourceView(name=name, type=wanted, exists=True, id=found.id)


async def sync_integration_config(deps: Deps, values: Mapping[str, Any]) -> None:
    """Upsert this environment's ``workflow_integration_config`` row (token references only)."""
    async with unit_of_work(deps.sessions) as s:
        await repo.upsert_config(s, values)
