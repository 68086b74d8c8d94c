"""``python -m publisher check``: can this process reach DolphinScheduler with its configuration? (seed §9.3)

Steps: gateway ping, gateway version, REST worker groups, the project (through the gateway) and its workflow
instances over REST. Prints one PASS/FAIL line per step; never prints a token (errors are built from DS codes and
route templates, and registered secrets are masked anyway).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TextIO

from common.telemetry import redact
from publisher.config import Settings
from publisher.main import dolphin_clients
from publisher.ports import DolphinGateway, DolphinRest


async def run_check(settings: Settings, gateway: DolphinGateway, rest: DolphinRest, out: TextIO = sys.stdout) -> bool:
    ok = True
    project_code: int | None = None

    def line(status: str, name: str, detail: str) -> None:
        out.write(redact(f"{status:4}  {name:<24} {detail}\n"))

    async def step(name: str, fn: Callable[[], Awaitable[str]]) -> bool:
        nonlocal ok
        try:
            detail = await fn()
        except Exception as exc:
            ok = False
            line("FAIL", name, f"{type(exc).__name__}: {exc}")
            return False
        line("PASS", name, detail)
        return True

    async def ping() -> str:
        return f"{settings.ds_gateway_host}:{settings.ds_gateway_port} answered {await gateway.ping()}"

    async def version() -> str:
        return f"DolphinScheduler {await gateway.get_gateway_version() or 'unknown'}"

    async def worker_groups() -> str:
        groups = await rest.list_worker_groups()
        if settings.ds_worker_group not in groups:
            raise LookupError(f"worker group {settings.ds_worker_group!r} not in {groups}")
        return f"{settings.ds_rest_url}: {', '.join(groups)}"

    async def project() -> str:
        nonlocal project_code
        found = await gateway.query_project_by_name(settings.ds_user, settings.ds_project_name)
        if found is None:
            raise LookupError(f"project {settings.ds_project_name!r} does not exist (the first publish creates it)")
        project_code = found.code
        return f"{settings.ds_project_name!r} = code {found.code}"

    async def instances() -> str:
        assert project_code is not None
        page = await rest.list_workflow_instances(project_code, page_size=10)
        return f"{page.total} workflow instances in project {project_code}"

    out.write(f"DolphinScheduler check for environment {settings.environment!r}\n")
    await step("gateway ping", ping)
    await step("gateway version", version)
    await step("REST worker groups", worker_groups)
    if await step("project", project):
        await step("REST workflow-instances", instances)
    else:
        line("SKIP", "REST workflow-instances", "needs the project")
    out.write("RESULT: " + ("all checks passed\n" if ok else "some checks FAILED\n"))
    return ok


async def check(settings: Settings) -> bool:
    rest, gateway = dolphin_clients(settings)
    try:
        return await run_check(settings, gateway, rest)
    finally:
        await rest.aclose()
        await gateway.aclose()
