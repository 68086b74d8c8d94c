"""The gateway in-process on real PostgreSQL, with the four services faked at the HTTP level (``fakes.py``).

One gateway schema migrated per test session (``migrated_schema``, emptied before each test); a fresh app per test.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import ServiceDatabase, create_engine
from common.testing.fixtures import MigratedFn, TruncateFn
from common.testing.service import running
from gateway.config import MIGRATIONS, Settings
from gateway.main import create_app

from .fakes import FakeServices

ADMIN_TOKEN = "test-admin-" + secrets.token_urlsafe(24)
DS_UI = "http://ds.example.com/dolphinscheduler/ui"
TRACE_UI = "http://zipkin.example.com:9411/zipkin"
TRACE_URL = TRACE_UI + "/traces/{trace_id}"


@pytest.fixture(scope="session")
async def gateway_db(migrated_schema: MigratedFn) -> ServiceDatabase:
    return await migrated_schema("gateway", MIGRATIONS)


@pytest.fixture(scope="session")
async def db_engine(gateway_db: ServiceDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(gateway_db.url, schema=gateway_db.schema, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
async def clean_db(gateway_db: ServiceDatabase, truncate: TruncateFn, db_engine: AsyncEngine) -> AsyncEngine:
    """The gateway's tables emptied before the test (truncate-based: the app commits, the tests read back)."""
    await truncate(gateway_db)
    return db_engine


@pytest.fixture
def fakes() -> FakeServices:
    return FakeServices()


def closed_port_url() -> str:
    """A URL where nothing listens (connection refused): a service that is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def settings(gateway_db: ServiceDatabase, tmp_path: Path) -> Settings:
    return Settings(
        database_url=gateway_db.url,
        db_schema=gateway_db.schema,
        bootstrap_admin_token=SecretStr(ADMIN_TOKEN),
        ds_ui_url=DS_UI,
        trace_url_template=TRACE_URL,
        portal_dir=tmp_path / "dist",
        # long enough for an in-process fake on a loaded 2-core machine; tests of the budget set a delay beyond it
        history_timeout_s=1.5,
        log_json=False,
        # the test process keeps its own collector settings (every test builds an app)
        gc_threshold=0,
        gc_freeze=False,
        # tests of every route without a key would trip it; test_guard.py tests the limit itself
        auth_failures_max=0,
    )


Start = Callable[..., Any]


@pytest.fixture
async def start(
    settings: Settings, fakes: FakeServices, clean_db: AsyncEngine
) -> AsyncIterator[Callable[..., Awaitable[httpx.AsyncClient]]]:
    """``await start(down=("history",), **setting_overrides)`` → a client of a running gateway (admin-authenticated
    by default). ``down`` services get a URL where nothing listens instead of their fake."""
    stack: list[Any] = []

    async def _start(*, down: tuple[str, ...] = (), **overrides: Any) -> httpx.AsyncClient:
        urls = {f"{name}_url": closed_port_url() for name in down}
        s = settings.model_copy(update={**urls, **overrides})
        transports = {k: v for k, v in fakes.transports().items() if k not in down}
        cm = running(create_app(s, transports=transports, telemetry=False))
        client = await cm.__aenter__()
        stack.append(cm)
        client.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        return client

    yield _start
    for cm in reversed(stack):
        await cm.__aexit__(None, None, None)


@pytest.fixture
async def client(start: Callable[..., Awaitable[httpx.AsyncClient]]) -> httpx.AsyncClient:
    return await start()


async def new_key(client: httpx.AsyncClient, name: str, *roles: str) -> str:
    r = await client.post("/api/v1/api-keys", json={"name": name, "roles": list(roles)})
    assert r.status_code == 201, r.text
    key: str = r.json()["key"]
    return key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def audit_rows(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT * FROM audit_log ORDER BY id"))
        return [dict(r._mapping) for r in rows]
