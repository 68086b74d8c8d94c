"""Auto-orchestration proposals (issue 20) on real PostgreSQL: kept current by ``task.dependency.changed`` (the use
case, as the consumer calls it) and by workflow changes, listed, previewed, accepted and dismissed over HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from common.db import create_engine, session_factory, unit_of_work
from common.events import TaskDependencyChanged
from common.events.models import PublishCompleted, PublishOperation, PublishOutcome
from common.outbox import Outbox
from definition.config import Settings
from definition.db.repository import proposals as proposal_repo
from definition.db.tables import metadata, outbox
from definition.deps import Deps
from definition.domain.grouping.partition import circles
from definition.service import _proposal_upkeep, projections

from .conftest import as_user, new_tasks, new_workflow, problem_type, workflow_body


@pytest.fixture(scope="module")
async def deps(module_settings: Settings) -> AsyncIterator[Deps]:
    engine = create_engine(module_settings.database_url, schema=module_settings.db_schema, pool_size=2)
    yield Deps(sessions=session_factory(engine), outbox=Outbox(outbox, source="/tests/definition"))
    await engine.dispose()


class Lineage:
    """The dependency sets lineage-resolver holds, and the events it sends when they change (one per task whose
    sets changed, as lineage-resolver does)."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.up: dict[int, set[int]] = {}
        self.down: dict[int, set[int]] = {}

    async def link(self, *edges: tuple[int, int]) -> None:
        before = {t: (set(self.up.get(t, ())), set(self.down.get(t, ()))) for e in edges for t in e}
        for u, d in edges:
            self.up.setdefault(d, set()).add(u)
            self.down.setdefault(u, set()).add(d)
        for t, (old_up, old_down) in before.items():
            event = TaskDependencyChanged(
                task_id=t,
                old_upstream=tuple(sorted(old_up)),
                new_upstream=tuple(sorted(self.up.get(t, ()))),
                old_downstream=tuple(sorted(old_down)),
                new_downstream=tuple(sorted(self.down.get(t, ()))),
            )
            async with unit_of_work(self.deps.sessions) as session:
                await projections.apply_dependency_change(session, self.deps, event, event_id=uuid.uuid4().hex)


async def proposals(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    r = await client.get("/internal/proposals", params={"page_size": 200, **params})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def by_tasks(items: list[dict[str, Any]]) -> dict[tuple[int, ...], dict[str, Any]]:
    return {tuple(p["task_ids"]): p for p in items}


async def test_proposals_follow_lineage_and_workflows(client: httpx.AsyncClient, deps: Deps) -> None:
    lineage = Lineage(deps)
    a, b, c, d, e, f = await new_tasks(client, 6)
    await lineage.link((a, b), (b, c), (d, e))

    # every unassigned task in exactly one proposal: the connected groups
    items = await proposals(client)
    assert sorted(t for p in items for t in p["task_ids"]) == sorted([a, b, c, d, e, f])
    groups = by_tasks(items)
    chain = groups[(a, b, c)]
    assert chain["kind"] == "new_workflow"
    assert sorted(map(tuple, chain["edges"])) == [(a, b), (b, c)]
    assert not chain["split"]
    assert set(groups) == {(a, b, c), (d, e), (f,)}

    # preview: the migration preview's shape
    r = await client.get(f"/internal/proposals/{chain['id']}/preview")
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["moved_task_ids"] == [a, b, c]
    assert preview["target_after"]["entry_task_ids"] == [a]
    assert preview["target_after"]["exit_task_ids"] == [c]
    assert preview["target_version_no"] is None

    # a viewer may look, not accept
    r = await client.post(f"/internal/proposals/{chain['id']}/accept", json={}, headers=as_user("val", "viewer"))
    assert r.status_code == 403, r.text

    # accept: a draft workflow, trigger auto_orchestration; its proposal is gone
    name = f"auto-{uuid.uuid4().hex[:8]}"
    r = await client.post(f"/internal/proposals/{chain['id']}/accept", json={"name": name}, headers=as_user("ann"))
    assert r.status_code == 201, r.text
    workflow = r.json()["workflow"]
    wid = workflow["id"]
    assert (workflow["name"], workflow["status"], workflow["current_version_no"]) == (name, "draft", 1)
    version = (await client.get(f"/internal/workflows/{wid}/versions/1")).json()
    assert version["trigger_source"] == "auto_orchestration"
    assert version["created_by"] == "ann"
    assert (a, b, c) not in by_tasks(await proposals(client))

    # a task that reads what the workflow writes: an addition to it, and its registration answer names it
    g, h = await new_tasks(client, 2)
    await lineage.link((c, g))
    addition = by_tasks(await proposals(client))[(g,)]
    assert (addition["kind"], addition["workflow_id"]) == ("add_to_workflow", wid)
    task = (await client.get(f"/internal/tasks/{g}")).json()
    assert task["suggested_workflow"]["workflow_id"] == wid
    assert task["suggested_workflow"]["reason"] == "all_neighbours"
    r = await client.post(
        f"/internal/proposals/{addition['id']}/accept", json={"expected_version_no": 0}, headers=as_user("ann")
    )
    assert r.status_code == 409, r.text
    assert problem_type(r) == "stale-version"
    r = await client.post(
        f"/internal/proposals/{addition['id']}/accept", json={"expected_version_no": 1}, headers=as_user("ann")
    )
    assert r.status_code == 201, r.text
    workflow = r.json()["workflow"]
    assert workflow["current_version_no"] == 2
    assert (c, g) in {(x["upstream_task_id"], x["downstream_task_id"]) for x in workflow["edges"]}

    # a task between the workflow and an unassigned group: its group waits for the workflow's task (DEPENDENT)
    await lineage.link((e, h), (c, h))
    group = by_tasks(await proposals(client))[(d, e, h)]
    assert [(x["upstream_task_id"], x["other_workflow_id"], x["outside"]) for x in group["cross_dependencies"]] == [
        (c, wid, "upstream")
    ]
    r = await client.post(f"/internal/proposals/{group['id']}/accept", json={}, headers=as_user("ann"))
    assert r.status_code == 201, r.text
    accepted = r.json()
    (link,) = accepted["preview"]["external_dependencies"]
    assert (link["upstream_workflow_id"], link["upstream_task_id"], link["task_ids"]) == (wid, c, [h])
    assert (link["cycle"], link["date_value"]) == ("day", "today")
    assert link["upstream_workflow_code"] is None  # not deployed: publishing will wait for it
    assert "upstream_not_deployed" in [w["code"] for w in accepted["preview"]["warnings"]]
    new_id = accepted["workflow"]["id"]
    version = (await client.get(f"/internal/workflows/{new_id}/versions/1")).json()
    assert [x["upstream_task_id"] for x in version["structure_snapshot"]["external_dependencies"]] == [c]

    # dismiss: not listed again, also after a rebuild forms the same set
    lone = by_tasks(await proposals(client))[(f,)]
    r = await client.post(f"/internal/proposals/{lone['id']}/dismiss", headers=as_user("ann"))
    assert r.status_code == 200, r.text
    assert (f,) not in by_tasks(await proposals(client))
    assert (f,) in by_tasks(await proposals(client, include_dismissed="true"))
    r = await client.post("/internal/proposals/rebuild", headers=as_user("root"))
    assert r.status_code == 200, r.text
    assert (f,) not in by_tasks(await proposals(client))
    assert by_tasks(await proposals(client, include_dismissed="true"))[(f,)]["dismissed"] is True

    # an unknown proposal is a 404, an editor may not rebuild
    r = await client.get("/internal/proposals/999999999/preview")
    assert r.status_code == 404, r.text
    r = await client.post("/internal/proposals/rebuild", headers=as_user("ed", "editor"))
    assert r.status_code == 403, r.text


async def test_deleting_a_workflow_gives_its_tasks_back_to_the_proposals(client: httpx.AsyncClient, deps: Deps) -> None:
    lineage = Lineage(deps)
    x, y = await new_tasks(client, 2)
    await lineage.link((x, y))
    (p,) = [p for p in await proposals(client) if x in p["task_ids"]]
    r = await client.post(f"/internal/proposals/{p['id']}/accept", json={}, headers=as_user("ann"))
    assert r.status_code == 201, r.text
    wid = r.json()["workflow"]["id"]
    assert not [p for p in await proposals(client) if x in p["task_ids"]]
    r = await client.delete(f"/internal/workflows/{wid}", headers=as_user("ann"))
    assert r.status_code == 204, r.text
    assert [p["task_ids"] for p in await proposals(client) if x in p["task_ids"]] == [[x, y]]


async def test_the_proposal_tables_of_the_migration_match_the_metadata(module_settings: Settings) -> None:
    names = {
        "orchestration_proposal",
        "orchestration_proposal_task",
        "dismissed_proposal",
        "workflow_version",
        "deployed_task_code",  # migration 0008
    }
    engine = create_engine(module_settings.database_url, schema=module_settings.db_schema, pool_size=1)

    def table_of(d: Any) -> str | None:
        item = d[0] if isinstance(d, list) else d
        for part in item[1:]:
            name = getattr(part, "name", None)
            table = getattr(part, "table", None)
            if table is not None and getattr(table, "name", None) in names:
                return str(table.name)
            if name in names:
                return str(name)
            if isinstance(part, str) and part in names:
                return part
        return None

    def diff(conn: Connection) -> list[Any]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return [d for d in compare_metadata(ctx, metadata) if table_of(d) is not None]

    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


async def test_dependent_links_in_the_editor_and_after_the_upstream_is_deployed(
    client: httpx.AsyncClient, deps: Deps
) -> None:
    up_task, a, b = await new_tasks(client, 3)
    upstream = await new_workflow(client, [up_task])
    body = workflow_body([a, b], [(a, b)])
    body["external_dependencies"] = [{"upstream_task_id": up_task, "task_ids": [a]}]
    r = await client.post("/internal/workflows", json=body, headers=as_user("ann"))
    assert r.status_code == 201, r.text
    wid = r.json()["id"]
    v1 = (await client.get(f"/internal/workflows/{wid}/versions/1")).json()
    (link,) = v1["structure_snapshot"]["external_dependencies"]
    assert (link["upstream_workflow_id"], link["upstream_task_id"], link["upstream_workflow_code"]) == (
        upstream["id"],
        up_task,
        None,
    )

    # an edit that does not mention the links keeps them; bad links are a 422 naming each
    update = {**workflow_body([a, b], [], name=body["name"]), "expected_version_no": 1}
    r = await client.put(f"/internal/workflows/{wid}", json=update, headers=as_user("ann"))
    assert r.status_code == 200, r.text
    v2 = (await client.get(f"/internal/workflows/{wid}/versions/2")).json()
    assert [x["upstream_task_id"] for x in v2["structure_snapshot"]["external_dependencies"]] == [up_task]
    bad = {
        **update,
        "expected_version_no": 2,
        "external_dependencies": [
            {"upstream_task_id": a, "task_ids": [b]},
            {"upstream_task_id": up_task, "task_ids": [a], "cycle": "hour", "date_value": "today"},
        ],
    }
    r = await client.put(f"/internal/workflows/{wid}", json=bad, headers=as_user("ann"))
    assert r.status_code == 422, r.text
    assert problem_type(r) == "invalid-dependent-links"
    assert [p["code"] for p in r.json()["problems"]] == ["upstream_in_this_workflow", "invalid_period"]

    # the upstream is deployed: the dependent gets a version naming its DS codes (trigger auto_orchestration)
    async with unit_of_work(deps.sessions) as session:
        version_id = (await client.get(f"/internal/workflows/{upstream['id']}/versions/1")).json()["id"]
        await projections.apply_publish_completed(
            session,
            deps,
            PublishCompleted(
                request_id=uuid.uuid4(),
                record_id=1,
                workflow_id=upstream["id"],
                version_id=version_id,
                operation=PublishOperation.DEPLOY,
                outcome=PublishOutcome.SUCCESS,
                engine_workflow_code=777,
                project_code=55,
                operator="ann",
                completed_at=datetime.now(UTC),
            ),
        )
    detail = (await client.get(f"/internal/workflows/{wid}")).json()
    assert detail["current_version_no"] == 3
    v3 = (await client.get(f"/internal/workflows/{wid}/versions/3")).json()
    assert v3["trigger_source"] == "auto_orchestration"
    assert v3["change_summary"]["summary"] == "1 DEPENDENT link changed"
    (link,) = v3["structure_snapshot"]["external_dependencies"]
    assert (link["upstream_workflow_code"], link["upstream_project_code"]) == (777, 55)
    r = await client.get(f"/internal/workflows/{wid}/diff", params={"from": 2, "to": 3})
    assert r.json()["dependent_links"]["changed"][0]["new"]["upstream_workflow_code"] == 777

    # removing the links is an edit like any other
    update = {**workflow_body([a, b], [], name=body["name"]), "expected_version_no": 3, "external_dependencies": []}
    r = await client.put(f"/internal/workflows/{wid}", json=update, headers=as_user("ann"))
    assert r.status_code == 200, r.text
    v4 = (await client.get(f"/internal/workflows/{wid}/versions/4")).json()
    assert "external_dependencies" not in v4["structure_snapshot"]
    assert v4["change_summary"]["dependent_links"]["removed"] == [up_task]


async def test_concurrent_workflow_writes_lineage_and_accepts_never_deadlock(
    client: httpx.AsyncClient, deps: Deps
) -> None:
    """A lineage event, a workflow edit that changes its task set and the acceptance of an addition to that
    workflow, all at once: each takes the workflow's row and the proposals' lock in the same order (a lineage
    event that took the proposals' lock first deadlocked with the edit, which PostgreSQL broke with a 500)."""
    lineage = Lineage(deps)
    base = await new_tasks(client, 3)
    await lineage.link((base[0], base[1]), (base[1], base[2]))
    wf = await new_workflow(client, base, [(base[0], base[1]), (base[1], base[2])])
    wid = wf["id"]
    tasks = list(base)
    for _ in range(8):
        joiner, reader, extra = await new_tasks(client, 3)
        await lineage.link((base[2], reader))  # an addition to the workflow
        [addition] = [p for p in await proposals(client) if p["task_ids"] == [reader]]
        current = (await client.get(f"/internal/workflows/{wid}")).json()
        edit = workflow_body([*tasks, joiner], name=current["name"], expected_version_no=current["current_version_no"])
        write = client.put(f"/internal/workflows/{wid}", json=edit, headers=as_user("ann"))
        accept = client.post(f"/internal/proposals/{addition['id']}/accept", json={}, headers=as_user("ann"))
        link = lineage.link((base[0], extra), (extra, base[2]))
        written, accepted, _ = await asyncio.gather(write, accept, link)
        for r in (written, accepted):
            assert r.status_code < 500, r.text
        detail = (await client.get(f"/internal/workflows/{wid}")).json()
        tasks = [t["task_id"] for t in detail["tasks"]]
    # every task in no workflow is in exactly one proposal after all that
    owned = set(tasks)
    listed = [t for p in await proposals(client) for t in p["task_ids"]]
    assert len(listed) == len(set(listed))
    assert not owned & set(listed)


async def test_the_tasks_an_archived_workflow_frees_join_the_proposals(client: httpx.AsyncClient, deps: Deps) -> None:
    """Archiving keeps the history and frees the tasks: they are in no workflow, so each is in a proposal."""
    lineage = Lineage(deps)
    a, b = await new_tasks(client, 2)
    await lineage.link((a, b))
    wid = (await new_workflow(client, [a, b], [(a, b)]))["id"]
    assert not {a, b} & {t for p in await proposals(client) for t in p["task_ids"]}
    r = await client.post(f"/internal/workflows/{wid}/actions/archive", headers=as_user("ann"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "archived"
    groups = by_tasks(await proposals(client))
    assert (a, b) in groups, groups
    assert groups[(a, b)]["kind"] == "new_workflow"


async def test_a_circle_of_proposals_is_split_where_the_new_dependency_path_ends(
    client: httpx.AsyncClient, deps: Deps
) -> None:
    """A dependency that closes a circle of cut dependencies between proposals splits the proposals on the circle
    where the path through their tasks ends (``_untangle``, as ``ProposalBook`` does), and leaves the ones the path
    passes whole alone: P1 = {p, q, r} (p → q ← r) → P3 = {m} → P2 = {s, s2} (s2 → s), then s2 → p."""
    small = Deps(sessions=deps.sessions, outbox=deps.outbox, proposal_max_size=3)
    lineage = Lineage(small)
    p, q, r, m, s, s2 = await new_tasks(client, 6)
    edges = [(p, q), (r, q), (q, m), (m, s), (s2, s)]
    await lineage.link(*edges)
    # the starting proposals, as a person or an earlier pass could have left them (each its own connected group)
    async with unit_of_work(small.sessions) as session:
        old = await proposal_repo.proposals_of_tasks(session, [p, q, r, m, s, s2])
        await _proposal_upkeep._regroup(session, small, {p, q, r}, set(old.values()))
        await _proposal_upkeep._regroup(session, small, {m}, [])
        await _proposal_upkeep._regroup(session, small, {s, s2}, [])
    mine = {p, q, r, m, s, s2}

    def ours(items: list[dict[str, Any]]) -> dict[tuple[int, ...], int]:
        return {tuple(x["task_ids"]): x["id"] for x in items if mine & set(x["task_ids"])}

    before = ours(await proposals(client))
    assert set(before) == {(p, q, r), (m,), (s, s2)}

    await lineage.link((s2, p))
    after = ours(await proposals(client))
    # s2's event: P1 splits into the part the path reached ({p, q}) and the rest, P2 likewise, P3 is passed whole
    # (untouched); then p's event names s2 → p again, now between {s2} and {p, q}, which fit together with no
    # other path between them: merged
    assert set(after) == {(p, q, s2), (r,), (m,), (s,)}
    assert after[(m,)] == before[(m,)]
    # no circle between the proposals, every task in exactly one
    of = {t: pid for ts, pid in after.items() for t in ts}
    assert sorted(of) == sorted(mine)
    links = {(of[a], of[b]) for a, b in [*edges, (s2, p)] if of[a] != of[b]}
    assert not circles(links)
