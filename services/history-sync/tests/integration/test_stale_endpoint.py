"""``GET /internal/workflows/stale``: tracked workflows whose last successful sync is older than N cycles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from common.db import unit_of_work
from common.outbox import Outbox
from history_sync.config import Settings
from history_sync.db import repository as repo
from history_sync.db.tables import outbox_table
from history_sync.deps import Deps
from history_sync.domain.tracking import Tracking
from history_sync.routes import router

from .conftest import Db

pytestmark = []


class _NoDs:
    """The endpoint reads the database only; any DS call is a bug."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the stale endpoint must not call DS ({name})")


async def _track(
    hdb: Db,
    wid: int,
    now: datetime,
    *,
    state: str = "ONLINE",
    synced_ago_s: float | None,
    published_ago_s: float = 7200,
    offline_ago_s: float | None = None,
    error: str | None = None,
) -> None:
    offline_at = None if offline_ago_s is None else now - timedelta(seconds=offline_ago_s)
    t = Tracking(
        workflow_id=wid, engine_workflow_code=wid * 10, project_code=1, release_state=state,
        online_since=now - timedelta(days=1), offline_at=offline_at,
        last_publish_at=now - timedelta(seconds=published_ago_s),
    )  # fmt: skip
    async with unit_of_work(hdb.sessions) as s:
        await repo.save_tracking(s, t, sync_now=False)
        if synced_ago_s is not None:
            await repo.record_sync_state(s, wid, ok=True, error=None, at=now - timedelta(seconds=synced_ago_s))
        if error:
            await repo.record_sync_state(s, wid, ok=False, error=error, at=now)


async def test_lists_only_covered_workflows_older_than_n_cycles(hdb: Db) -> None:
    settings = Settings(
        database_url=hdb.db.url, db_schema=hdb.db.schema, ds_token=SecretStr("x"), sync_interval_s=300, lease_s=60,
        offline_grace_s=86400,
    )  # fmt: skip
    now = datetime.now(UTC)
    await _track(hdb, 1, now, synced_ago_s=60)  # fresh
    await _track(hdb, 2, now, synced_ago_s=1000, error="DS timeout")  # > 3 cycles (900 s)
    await _track(hdb, 3, now, synced_ago_s=None, published_ago_s=5000)  # never synced, published long ago
    await _track(hdb, 4, now, synced_ago_s=None, published_ago_s=30)  # never synced, just published
    await _track(hdb, 5, now, state="OFFLINE", synced_ago_s=5000, offline_ago_s=200_000)  # offline past the grace
    await _track(hdb, 6, now, state="OFFLINE", synced_ago_s=5000, offline_ago_s=600)  # offline within the grace
    app = FastAPI()
    app.include_router(router)
    app.state.deps = Deps(
        settings=settings,
        sessions=hdb.sessions,
        outbox=Outbox(outbox_table, source="/t"),
        dolphin=_NoDs(),  # type: ignore[arg-type]
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://h") as client:
        body = (await client.get("/internal/workflows/stale", params={"cycles": 3})).json()
        assert body["threshold_s"] == 900
        assert [w["workflow_id"] for w in body["items"]] == [3, 6, 2]
        by_id = {w["workflow_id"]: w for w in body["items"]}
        assert by_id[2]["last_error"] == "DS timeout"
        assert by_id[2]["age_seconds"] == pytest.approx(1000, abs=30)
        assert by_id[3]["last_synced_at"] is None
        assert by_id[6]["engine_workflow_code"] == 60
        longer = (await client.get("/internal/workflows/stale", params={"cycles": 10})).json()
        assert [w["workflow_id"] for w in longer["items"]] == [3, 6]
        assert (await client.get("/internal/workflows/stale", params={"cycles": 0})).status_code == 422
