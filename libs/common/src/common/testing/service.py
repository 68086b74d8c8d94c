"""Run a service in-process for component and integration tests: migrations on a fresh schema, the real app with
its lifespan (real PostgreSQL and Kafka), and an httpx client over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from common.db import ServiceDatabase
from common.migrations import upgrade


async def migrate(script_location: Path, db: ServiceDatabase) -> None:
    await upgrade(script_location, db.url, db.schema)


@asynccontextmanager
async def running(app: FastAPI, *, startup_timeout: float = 60.0) -> AsyncIterator[httpx.AsyncClient]:
    """Start ``app`` (lifespan included) and yield a client bound to it."""
    async with LifespanManager(app, startup_timeout=startup_timeout, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service", timeout=30) as client:
            yield client
