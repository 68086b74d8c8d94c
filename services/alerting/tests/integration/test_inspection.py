"""The daily inspection against fake definition / publisher / history-sync APIs and a local ticket receiver: each
seeded inconsistency is found and ticketed once, not again while it stays, closed when it goes, ticketed anew when it
comes back; a check whose upstream is down keeps its tickets open."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from alerting import service
from alerting.deps import Deps
from alerting.main import create_app
from common.testing.service import running

from .conftest import FakeServer, SettingsFactory

pytestmark = pytest.mark.timeout(180)


def _seed(fake: FakeServer) -> None:
    up = fake.up
    up.unassigned = [{"id": 50, "name": "lonely", "workflow_id": None}]
    up.workflows = [
        {"id": 1, "name": "daily", "publish_status": "published", "project_code": 42, "workflow_code": 1001},
        {"id": 2, "name": "draft", "publish_status": "never_published", "project_code": None, "workflow_code": None},
        {"id": 3, "name": "clean", "publish_status": "published", "project_code": 42, "workflow_code": 1003},
    ]
    # workflow 1 lists task 3, which does not exist, and has an edge to task 9, which it does not list
    up.structures = {1: ([1, 2, 3], [(1, 2), (2, 9)]), 2: ([4], []), 3: ([5, 6], [(5, 6)])}
    up.tasks = {1: 1, 2: 1, 4: 2, 5: 3, 6: 3, 50: None}
    up.drift = {
        1: {"status": "drifted", "differences": ["task 11 (extract): task_params.rawScript changed in DS"],
            "workflow_code": 1001, "project_code": 42, "ds_hash": "a", "expected_ds_hash": "b"},
        3: {"status": "in_sync", "differences": [], "workflow_code": 1003, "project_code": 42},
    }  # fmt: skip
    up.stale = [
        {"workflow_id": 3, "engine_workflow_code": 1003, "project_code": 42, "release_state": "ONLINE",
         "last_synced_at": None, "age_seconds": 4000.0, "last_error": "DS unreachable", "last_error_at": None},
    ]  # fmt: skip


EXPECTED = [
    "dangling-relation:1:3",
    "dangling-relation:1:9",
    "drift:1",
    "orphan-task:50",
    "stale-sync:3",
]


def _keys(report: dict[str, Any]) -> list[str]:
    return sorted(f["finding_key"] for f in report["findings"])


async def test_inspection_tickets_lifecycle(make_settings: SettingsFactory, fake: FakeServer) -> None:
    _seed(fake)
    fake.failures["/tickets"] = [503]  # the ticket system fails once: that ticket is opened on the next run
    app = create_app(make_settings(watch_dead_letters=False))
    async with running(app) as client:
        first = await client.post("/internal/inspections/run")
        assert first.status_code == 201, first.text
        r1 = first.json()
        assert _keys(r1) == EXPECTED
        assert {k: v for k, v in r1["checks"].items()} == {
            "orphan_task": "ok", "dangling_relation": "ok", "drift": "ok", "stale_sync": "ok",
        }  # fmt: skip
        assert r1["summary"]["tickets_opened"] == 5
        assert r1["summary"]["tickets_confirmed"] == 4
        reasons = {f["finding_key"]: f["subject"].get("reason") for f in r1["findings"]}
        assert reasons["dangling-relation:1:3"] == "task_missing"
        assert reasons["dangling-relation:1:9"] == "edge_endpoint_missing"
        assert len(fake.tickets) == 4
        assert {t["finding_key"] for t in fake.tickets} < set(EXPECTED)
        unticketed = [f for f in r1["findings"] if f["ticket"]["ticket_id"] is None]
        assert len(unticketed) == 1
        assert unticketed[0]["ticket"]["error"]

        # second run: same findings, no new ticket except the one the ticket system refused
        r2 = (await client.post("/internal/inspections/run")).json()
        assert _keys(r2) == EXPECTED
        assert r2["summary"]["tickets_opened"] == 0
        assert r2["summary"]["tickets_still_open"] == 5
        assert len(fake.tickets) == 5
        assert sorted(t["finding_key"] for t in fake.tickets) == EXPECTED
        assert len({t["idempotency_key"] for t in fake.tickets}) == 5
        ticket_ids = {f["finding_key"]: f["ticket"]["ticket_id"] for f in r2["findings"]}
        assert sorted(ticket_ids.values()) == [f"TCK-{i}" for i in range(1, 6)]
        drift_ticket = next(t for t in fake.tickets if t["finding_key"] == "drift:1")
        assert drift_ticket["kind"] == "drift"
        assert drift_ticket["link"] == "https://portal.example/workflows/1"
        assert "rawScript" in drift_ticket["description"]

        # the orphan gets a workflow, and history-sync is down: the orphan ticket closes, the stale one stays open
        fake.up.unassigned = []
        fake.up.down.add("history")
        r3 = (await client.post("/internal/inspections/run")).json()
        assert _keys(r3) == [k for k in EXPECTED if k not in ("orphan-task:50", "stale-sync:3")]
        assert r3["checks"]["stale_sync"].startswith("failed")
        assert [t["finding_key"] for t in r3["closed_tickets"]] == ["orphan-task:50"]
        assert r3["summary"]["tickets_opened"] == 0
        assert len(fake.tickets) == 5

        # the orphan comes back: a new ticket, not the closed one
        fake.up.unassigned = [{"id": 50, "name": "lonely", "workflow_id": None}]
        fake.up.down.clear()
        r4 = (await client.post("/internal/inspections/run")).json()
        assert _keys(r4) == EXPECTED
        assert r4["summary"]["tickets_opened"] == 1
        assert r4["closed_tickets"] == []
        assert [t["finding_key"] for t in fake.tickets[5:]] == ["orphan-task:50"]
        orphan = next(f for f in r4["findings"] if f["finding_key"] == "orphan-task:50")
        assert orphan["ticket"]["ticket_id"] == "TCK-6"

        latest = (await client.get("/internal/inspections/latest")).json()
        assert latest["id"] == r4["id"]
        again = (await client.get(f"/internal/inspections/{r1['id']}")).json()
        assert _keys(again) == EXPECTED
        assert (await client.get("/internal/inspections/999999")).status_code == 404

        # the daily job: a slot runs once, whichever replica (or call) gets there first
        deps: Deps = app.state.deps
        slot = datetime(2025, 6, 1, 3, 0, tzinfo=UTC)
        assert await service.run_scheduled_inspection(deps, slot) is not None
        assert await service.run_scheduled_inspection(deps, slot) is None
        assert len(fake.tickets) == 6
