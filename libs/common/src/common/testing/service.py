"""Run a service in-process for component and integration tests: migrations on a fresh schema, the real app with
its lifespan (real PostgreSQL and Kafka), and an httpx client over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from common.db import ServiceDatabase
from common.migrations import upgrade
from common.testing.identity import UserAuth


async def migrate(script_location: Path, db: ServiceDatabase) -> None:
    await upgrade(script_location, db.url, db.schema)


@asynccontextmanager
async def running(
    app: FastAPI, *, startup_timeout: float = 60.0, as_user: str | None = "tester", roles: Sequence[str] = ("admin",)
) -> AsyncIterator[httpx.AsyncClient]:
    """Start ``app`` (lifespan included) and yield a client bound to it. Its requests carry the identity the gateway
    would send for ``as_user`` with ``roles`` (``common.testing.identity``); ``as_user=None``: none."""
    async with LifespanManager(app, startup_timeout=startup_timeout, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        audience = getattr(app.state, "identity_audience", None)
        auth = UserAuth(audience, as_user, roles) if as_user is not None and audience else None
        async with httpx.AsyncClient(transport=transport, base_url="http://service", timeout=30, auth=auth) as client:
            yield client
