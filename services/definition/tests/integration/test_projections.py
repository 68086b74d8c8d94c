"""The read projections the lists answer from: last executions (``execution.synced``), the dependency projection
(``task.dependency.changed``, refilled by ``sync-dependencies``) and the workflow counter. The use cases run on real
PostgreSQL; the lists are read over HTTP."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from common.db import create_engine, session_factory, unit_of_work
from common.errors import TransientError
from common.events import DependencyCycle, ExecutionSummary, ExecutionSynced, TaskDependencyChanged
from common.outbox import Outbox
from common.upstream import Upstream
from definition import schemas
from definition.clients import HistoryExecutionsView, LineageDependencyView
from definition.config import Settings
from definition.db.repository import publish_requests as publish_repo
from definition.db.repository import workflows as workflow_repo
from definition.db.tables import outbox
from definition.deps import Deps
from definition.ports import CachedExecutions, DependencySets
from definition.service import projections

from .conftest import as_user, new_tasks, new_workflow

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@contextlib.asynccontextmanager
async def _upstream(url: str, fake: httpx.MockTransport) -> AsyncIterator[Upstream]:
    up = Upstream.at("upstream", url, timeout_s=5.0, fake=fake)
    try:
        yield up
    finally:
        await up.aclose()


@pytest.fixture(scope="module")
async def deps(module_settings: Settings) -> AsyncIterator[Deps]:
    engine = create_engine(module_settings.database_url, schema=module_settings.db_schema, pool_size=2)
    yield Deps(sessions=session_factory(engine), outbox=Outbox(outbox, source="/tests/definition"))
    await engine.dispose()


def synced(workflow_id: int, at: datetime, states: Sequence[str]) -> ExecutionSynced:
    return ExecutionSynced(
        workflow_id=workflow_id,
        engine_workflow_code=1,
        project_code=2,
        executions=tuple(
            ExecutionSummary(
                instance_id=100 + i,
                state=s,
                start_time=at - timedelta(hours=i),
                end_time=at - timedelta(hours=i) + timedelta(minutes=3),
                duration="3m",
                command_type="SCHEDULER",
                run_times=1,
            )
            for i, s in enumerate(states)
        ),
        synced_at=at,
    )


async def apply_synced(deps: Deps, event: ExecutionSynced) -> None:
    async with unit_of_work(deps.sessions) as session:
        await projections.apply_execution_synced(session, deps, event)


async def apply_change(deps: Deps, task: int, **kw: Any) -> None:
    base: dict[str, Any] = {"old_upstream": (), "new_upstream": (), "old_downstream": (), "new_downstream": ()}
    event = TaskDependencyChanged(task_id=task, **{**base, **kw})
    async with unit_of_work(deps.sessions) as session:
        await projections.apply_dependency_change(session, deps, event, event_id=f"test-{task}-{id(event)}")


async def list_item(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    r = await client.get("/internal/workflows", params={"name": name})
    assert r.status_code == 200, r.text
    (item,) = r.json()["items"]
    return dict(item)


async def test_last_executions_projection_keeps_the_newest_sync(client: httpx.AsyncClient, deps: Deps) -> None:
    (t,) = await new_tasks(client, 1)
    wf = await new_workflow(client, [t])
    item = await list_item(client, wf["name"])
    assert (item["last_executions"], item["executions_synced_at"]) == ([], None)  # never synced

    await apply_synced(deps, synced(wf["id"], T0, ["FAILURE", *["SUCCESS"] * 11]))
    item = await list_item(client, wf["name"])
    runs = item["last_executions"]
    assert [r["instance_id"] for r in runs] == list(range(100, 110))  # newest first, at most 10
    assert set(runs[0]) == {"instance_id", "state", "start_time", "end_time", "duration"}  # list fields only
    assert (runs[0]["state"], runs[0]["duration"]) == ("FAILURE", "3m")
    assert item["last_execution_state"] == "FAILURE"
    assert item["executions_synced_at"].startswith("2026-01-01T00:00:00")

    # an older sync arriving late changes nothing (neither the runs nor the last state)
    await apply_synced(deps, synced(wf["id"], T0 - timedelta(minutes=5), ["RUNNING_EXECUTION"]))
    item = await list_item(client, wf["name"])
    assert [r["instance_id"] for r in item["last_executions"]] == list(range(100, 110))
    assert item["last_execution_state"] == "FAILURE"

    # a newer one replaces them
    await apply_synced(deps, synced(wf["id"], T0 + timedelta(minutes=5), ["SUCCESS", "FAILURE"]))
    item = await list_item(client, wf["name"])
    assert [(r["instance_id"], r["state"]) for r in item["last_executions"]] == [(100, "SUCCESS"), (101, "FAILURE")]
    assert item["last_execution_state"] == "SUCCESS"

    await apply_synced(deps, synced(10_000_000, T0, ["SUCCESS"]))  # unknown workflow: ignored


async def test_unfiltered_total_is_the_exact_counter(client: httpx.AsyncClient, deps: Deps) -> None:
    async def totals() -> tuple[int, int]:
        r = await client.get("/internal/workflows", params={"page_size": 1})
        async with deps.sessions() as session:
            counted = (await session.execute(text("SELECT count(*) FROM data_workflow"))).scalar_one()
        return int(r.json()["total"]), int(counted)

    before, counted = await totals()
    assert before == counted
    tasks = await new_tasks(client, 2)
    for t in tasks:
        await new_workflow(client, [t])
    after, counted = await totals()
    assert (after, counted) == (before + 2, before + 2)
    # a page past the end still says the total
    r = await client.get("/internal/workflows", params={"page": 10_000, "page_size": 200})
    assert (r.json()["items"], r.json()["total"]) == ([], after)
    # filtered lists count what matches
    r = await client.get("/internal/workflows", params={"name": "no such workflow anywhere"})
    assert r.json()["total"] == 0

    # deletes keep the counter exact too (the application never deletes a workflow; SQL might)
    insert = "INSERT INTO data_workflow (workflow_name, created_by, updated_by) VALUES "
    async with unit_of_work(deps.sessions) as session:
        await session.execute(text(insert + "('tmp-a', 'x', 'x'), ('tmp-b', 'x', 'x')"))
    assert (await totals())[0] == after + 2
    async with unit_of_work(deps.sessions) as session:
        await session.execute(text("DELETE FROM data_workflow WHERE workflow_name IN ('tmp-a', 'tmp-b')"))
    assert await totals() == (after, after)
    # a transaction that rolls back leaves the counter as it was
    async with deps.sessions() as session:
        await session.execute(text(insert + "('tmp-c', 'x', 'x')"))
        await session.rollback()
    assert await totals() == (after, after)


async def test_dependency_projection_filters_and_counts(client: httpx.AsyncClient, deps: Deps) -> None:
    a, b, c, d, loose = await new_tasks(client, 5)
    w1 = await new_workflow(client, [a, b, c])
    w2 = await new_workflow(client, [d])
    # as lineage-resolver reports them: a → b, a → c, a → d (across workflows), b → c
    await apply_change(deps, a, new_downstream=(b, c, d))
    await apply_change(deps, b, new_upstream=(a,), new_downstream=(c,))
    await apply_change(deps, c, new_upstream=(a, b))
    await apply_change(deps, d, new_upstream=(a,))
    await apply_change(deps, loose, new_upstream=(a,))  # a task in no workflow: projected all the same

    r = await client.get("/internal/tasks", params={"upstream_task_id": a})
    body = r.json()
    assert [t["id"] for t in body["items"]] == [b, c, d, loose]
    assert body["total"] == 4
    by_id = {t["id"]: t for t in body["items"]}
    assert (by_id[b]["upstream_count"], by_id[b]["downstream_count"]) == (1, 1)
    assert (by_id[c]["upstream_count"], by_id[c]["downstream_count"]) == (2, 0)
    assert (by_id[b]["workflow_id"], by_id[b]["workflow_name"]) == (w1["id"], w1["name"])
    assert (by_id[d]["workflow_id"], by_id[loose]["workflow_id"]) == (w2["id"], None)

    # with the catalog filters and paging
    r = await client.get("/internal/tasks", params={"upstream_task_id": a, "workflow_id": w1["id"]})
    assert ([t["id"] for t in r.json()["items"]], r.json()["total"]) == ([b, c], 2)
    r = await client.get("/internal/tasks", params={"upstream_task_id": a, "page": 2, "page_size": 1})
    assert ([t["id"] for t in r.json()["items"]], r.json()["total"]) == ([c], 4)
    r = await client.get("/internal/tasks", params={"upstream_task_id": a, "page": 9, "page_size": 1})
    assert (r.json()["items"], r.json()["total"]) == ([], 4)  # past the end: the total still
    r = await client.get("/internal/tasks", params={"upstream_task_id": a, "downstream_task_id": c})
    assert [t["id"] for t in r.json()["items"]] == [b]
    r = await client.get("/internal/tasks", params={"downstream_task_id": c})
    assert [t["id"] for t in r.json()["items"]] == [a, b]
    r = await client.get("/internal/tasks", params={"upstream_task_id": loose})
    assert (r.json()["items"], r.json()["total"]) == ([], 0)
    # the unfiltered list carries the counts too
    r = await client.get("/internal/tasks", params={"workflow_id": w1["id"]})
    assert [(t["id"], t["upstream_count"], t["downstream_count"]) for t in r.json()["items"]] == [
        (a, 0, 3),
        (b, 1, 1),
        (c, 2, 0),
    ]

    # a cycle reported by lineage: the workflow is flagged, the projection still mirrors lineage's view
    cycle = DependencyCycle(task_path=(c, a, b, c), tables=("dw.x",))
    await apply_change(deps, c, old_upstream=(a, b), new_upstream=(a, b), new_downstream=(a,), cycle=cycle)
    r = await client.get("/internal/tasks", params={"downstream_task_id": a})
    assert [t["id"] for t in r.json()["items"]] == [c]
    # both sets empty: no row (as in lineage's view), counts 0
    await apply_change(deps, loose, old_upstream=(a,))
    r = await client.get("/internal/tasks", params={"upstream_task_id": a})
    assert loose not in [t["id"] for t in r.json()["items"]]
    async with deps.sessions() as session:
        rows = await session.execute(text(f"SELECT count(*) FROM task_dependency_projection WHERE task_id = {loose}"))
        assert rows.scalar_one() == 0


class FakeView:
    """lineage-resolver's dependency view in memory; ``during[t]`` runs inside the read that includes task ``t`` (a
    consumer applying an event of ``t`` that lineage committed after the read)."""

    def __init__(self, sets: dict[int, tuple[tuple[int, ...], tuple[int, ...]]], max_batch: int = 2) -> None:
        self.sets = sets
        self.max_batch = max_batch
        self.reads: list[list[int]] = []
        self.during: dict[int, Callable[[], Any]] = {}

    async def dependency_sets(self, task_ids: Sequence[int]) -> list[DependencySets]:
        self.reads.append(list(task_ids))
        for t in task_ids:
            if (hook := self.during.pop(t, None)) is not None:
                await hook()
        return [DependencySets(t, *self.sets.get(t, ((), ()))) for t in task_ids]


async def test_sync_dependencies_refills_without_undoing_newer_events(client: httpx.AsyncClient, deps: Deps) -> None:
    a, b, c = await new_tasks(client, 3)
    # the projection is behind: a stale row for c, nothing for a and b
    await apply_change(deps, c, new_upstream=(b,))
    view = FakeView({a: ((), (b,)), b: ((a,), ()), c: ((), ())}, max_batch=2)

    # while the refill runs, the consumer applies a newer change of b: the refill must not undo it
    async def consumer() -> None:
        await apply_change(deps, b, old_upstream=(a,), new_upstream=(a, c))

    view.during[b] = consumer
    report = await projections.sync_dependencies(deps.sessions, view, batch_size=1000)
    assert report.tasks >= 3
    assert all(len(ids) <= 2 for ids in view.reads)  # the view's batch limit is honoured
    assert [i for ids in view.reads for i in ids if i in (a, b, c)] == [a, b, c]

    r = await client.get("/internal/tasks", params={"upstream_task_id": a})
    assert [(t["id"], t["upstream_count"]) for t in r.json()["items"]] == [(b, 2)]  # the consumer's newer row
    r = await client.get("/internal/tasks", params={"downstream_task_id": b})
    assert [t["id"] for t in r.json()["items"]] == [a]  # filled
    r = await client.get("/internal/tasks", params={"upstream_task_id": b})
    assert r.json()["items"] == []  # c's stale row is gone: lineage says c has no dependencies


async def test_lineage_adapter_reads_the_dependency_view() -> None:
    seen: list[httpx.Request] = []

    def lineage(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        ids = [int(x) for x in request.url.params["task_ids"].split(",")]
        items = [
            {
                "task_id": t,
                "upstream_task_ids": [t - 1] if t > 1 else [],
                "downstream_task_ids": [],
                "upstream_count": 1 if t > 1 else 0,
                "downstream_count": 0,
                "updated_at": None,
            }
            for t in ids
        ]
        return httpx.Response(200, json={"items": items})

    async with _upstream("http://lineage", httpx.MockTransport(lineage)) as http:
        view = LineageDependencyView(http)
        assert view.max_batch == 1000
        assert await view.dependency_sets([1, 2]) == [DependencySets(1, (), ()), DependencySets(2, (1,), ())]
    assert seen[0].url.path == "/internal/dependency-view"
    assert seen[0].url.params["task_ids"] == "1,2"

    async with _upstream("http://lineage", httpx.MockTransport(lambda r: httpx.Response(503))) as http:
        with pytest.raises(TransientError):
            await LineageDependencyView(http).dependency_sets([1])


class FakeExecutionsView:
    """history-sync's execution cache in memory (workflows it never synced are left out, as the adapter does);
    ``during[w]`` runs inside the read that includes workflow ``w``."""

    def __init__(self, cached: dict[int, ExecutionSynced], max_batch: int = 2) -> None:
        self.cached = cached
        self.max_batch = max_batch
        self.reads: list[list[int]] = []
        self.during: dict[int, Callable[[], Any]] = {}

    async def cached_executions(self, workflow_ids: Sequence[int]) -> list[CachedExecutions]:
        assert len(workflow_ids) <= self.max_batch
        self.reads.append(list(workflow_ids))
        for w in workflow_ids:
            if (hook := self.during.pop(w, None)) is not None:
                await hook()
        return [
            CachedExecutions(w, self.cached[w].synced_at, self.cached[w].executions)
            for w in workflow_ids
            if w in self.cached
        ]


async def test_sync_executions_fills_the_list_without_undoing_newer_events(
    client: httpx.AsyncClient, deps: Deps
) -> None:
    """history-sync emits ``execution.synced`` only on change: a workflow whose runs did not change since the
    projection appeared gets them from the refill; a newer event applied meanwhile wins; an untracked one stays
    empty."""
    t1, t2, t3 = await new_tasks(client, 3)
    quiet = await new_workflow(client, [t1])
    busy = await new_workflow(client, [t2])
    untracked = await new_workflow(client, [t3])
    view = FakeExecutionsView(
        {
            quiet["id"]: synced(quiet["id"], T0, ["SUCCESS", "FAILURE"]),
            busy["id"]: synced(busy["id"], T0, ["SUCCESS"]),
        }
    )

    async def consumer() -> None:  # a newer sync of `busy` applied while the refill runs
        await apply_synced(deps, synced(busy["id"], T0 + timedelta(minutes=5), ["RUNNING_EXECUTION", "SUCCESS"]))

    view.during[busy["id"]] = consumer
    report = await projections.sync_executions(deps.sessions, view, batch_size=1000)
    assert report.workflows >= 3
    assert report.rows_written == 1  # `quiet` only: `busy` holds a newer sync, `untracked` is not in the cache
    assert all(len(ids) <= 2 for ids in view.reads)
    seen = [w for ids in view.reads for w in ids]
    assert [w for w in seen if w in (quiet["id"], busy["id"], untracked["id"])] == sorted(
        [quiet["id"], busy["id"], untracked["id"]]
    )

    item = await list_item(client, quiet["name"])
    assert [(r["instance_id"], r["state"]) for r in item["last_executions"]] == [(100, "SUCCESS"), (101, "FAILURE")]
    assert item["last_execution_state"] == "SUCCESS"
    item = await list_item(client, busy["name"])
    assert [r["state"] for r in item["last_executions"]] == ["RUNNING_EXECUTION", "SUCCESS"]  # the newer event
    item = await list_item(client, untracked["name"])
    assert (item["last_executions"], item["executions_synced_at"]) == ([], None)

    again = await projections.sync_executions(deps.sessions, FakeExecutionsView(view.cached), batch_size=1000)
    assert again.workflows == report.workflows  # re-runnable; `busy` still keeps its newer runs
    item = await list_item(client, busy["name"])
    assert [r["state"] for r in item["last_executions"]] == ["RUNNING_EXECUTION", "SUCCESS"]


async def test_history_adapter_reads_the_executions_batch() -> None:
    seen: list[httpx.Request] = []
    run = {
        "instance_id": 7,
        "state": "SUCCESS",
        "start_time": "2026-01-01T00:00:00Z",
        "end_time": "2026-01-01T00:03:00Z",
        "duration": "3m",
        "command_type": "SCHEDULER",
        "ds_command_type": "SCHEDULER",
        "run_times": 1,
        "host": "worker-1",
        "engine_version": 3,
        "platform_version_id": None,
    }

    def history(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        base = {"engine_workflow_code": 1, "project_code": 2, "release_state": "ONLINE", "synced": True}
        workflows = [
            {**base, "workflow_id": 1, "synced_at": "2026-01-01T00:05:00Z", "executions": [run]},
            {**base, "workflow_id": 2, "synced_at": None, "executions": []},  # tracked, never synced
        ]
        return httpx.Response(200, json={"workflows": workflows, "unknown_ids": [3]})

    async with _upstream("http://history", httpx.MockTransport(history)) as http:
        view = HistoryExecutionsView(http)
        (only,) = await view.cached_executions([1, 2, 3])
        with pytest.raises(ValueError, match="at most"):
            await view.cached_executions(list(range(view.max_batch + 1)))
    assert seen[0].url.path == "/internal/workflows/executions"
    assert seen[0].url.params["ids"] == "1,2,3"
    assert (only.workflow_id, only.synced_at) == (1, datetime(2026, 1, 1, 0, 5, tzinfo=UTC))
    assert [(e.instance_id, e.state, e.engine_version) for e in only.executions] == [(7, "SUCCESS", 3)]

    async with _upstream("http://history", httpx.MockTransport(lambda r: httpx.Response(503))) as http:
        with pytest.raises(TransientError):
            await HistoryExecutionsView(http).cached_executions([1])


async def test_list_document_built_by_the_database_is_the_model(client: httpx.AsyncClient, deps: Deps) -> None:
    """The list's JSON comes from PostgreSQL: it must validate as ``Page[WorkflowListItem]`` and say what the
    pydantic-built detail says for every summary field (approved or not, published or not, synced or not)."""
    a, b, c = await new_tasks(client, 3)
    draft = await new_workflow(client, [a], name=f"json-{uuid.uuid4().hex[:6]}-draft")
    approved = await new_workflow(client, [b], name=f"json-{uuid.uuid4().hex[:6]}-approved")
    r = await client.post(
        f"/internal/workflows/{approved['id']}/actions/approve",
        json={"version_no": 1},
        headers=as_user("ann"),
    )
    assert r.status_code == 200, r.text
    edited = await new_workflow(client, [c], name=f"json-{uuid.uuid4().hex[:6]}-edited")
    await client.post(f"/internal/workflows/{edited['id']}/actions/approve", json={"version_no": 1})
    await apply_synced(deps, synced(edited["id"], T0, ["SUCCESS"]))

    r = await client.get("/internal/workflows", params={"name": "json-", "sort": "name", "page_size": 200})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    page = schemas.Page[schemas.WorkflowListItem].model_validate_json(r.content)
    assert {i.id for i in page.items} >= {draft["id"], approved["id"], edited["id"]}
    assert [i.name for i in page.items] == sorted(i.name for i in page.items)
    for item in page.items:
        detail = schemas.WorkflowDetail.model_validate_json(
            (await client.get(f"/internal/workflows/{item.id}")).content
        )
        for name in schemas.WorkflowSummary.model_fields:
            assert getattr(item, name) == getattr(detail, name), (item.id, name)
    by_id = {i.id: i for i in page.items}
    assert (by_id[draft["id"]].approved, by_id[approved["id"]].approved) == (False, True)
    assert [e.instance_id for e in by_id[edited["id"]].last_executions] == [100]
    assert by_id[edited["id"]].executions_synced_at == T0
    assert by_id[draft["id"]].executions_synced_at is None
    # an empty page is still a page
    r = await client.get("/internal/workflows", params={"name": "no such workflow anywhere"})
    assert r.json() == {"items": [], "total": 0, "page": 1, "page_size": 20}


async def test_task_list_document_built_by_the_database_is_the_model(client: httpx.AsyncClient, deps: Deps) -> None:
    """The task list's JSON comes from PostgreSQL: it validates as ``Page[TaskListItem]`` and says what the
    pydantic-built task answer says (owned or not, deployed or not), with and without a dependency filter."""
    a, b, loose = await new_tasks(client, 3)
    wf = await new_workflow(client, [a, b])
    await apply_change(deps, a, new_downstream=(b, loose))
    await apply_change(deps, b, new_upstream=(a,))
    await apply_change(deps, loose, new_upstream=(a,))
    async with unit_of_work(deps.sessions) as s:  # what publish.completed keeps: a's code in what DS holds
        await publish_repo.replace_deployed_task_codes(s, wf["id"], {a: 4242, loose: 4343})
    for params in ({"upstream_task_id": a}, {"ids": f"{a},{b},{loose}"}):
        r = await client.get("/internal/tasks", params=params)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        page = schemas.Page[schemas.TaskListItem].model_validate_json(r.content)
        assert page.items
        for item in page.items:
            task = schemas.Task.model_validate_json((await client.get(f"/internal/tasks/{item.id}")).content)
            for name in schemas.Task.model_fields:
                assert getattr(item, name) == getattr(task, name), (item.id, name)
    page = schemas.Page[schemas.TaskListItem].model_validate_json(
        (await client.get("/internal/tasks", params={"ids": f"{a},{b},{loose}"})).content
    )
    assert [(i.id, i.workflow_id, i.upstream_count, i.downstream_count, i.ds_task_code) for i in page.items] == [
        (a, wf["id"], 0, 2, 4242),
        (b, wf["id"], 1, 0, None),
        (loose, None, 1, 0, None),  # a code of the workflow, but the task is not in it
    ]
    r = await client.get("/internal/tasks", params={"ids": "999999999"})
    assert r.json() == {"items": [], "total": 0, "page": 1, "page_size": 20}


async def test_hub_lineage_change_flags_each_workflow_once_with_the_fullest_explanation(
    client: httpx.AsyncClient, deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One lineage event on a hub table (issue 24 item 3): its new writer ``hub`` (workflow X) becomes upstream of
    every reader (4 workflows of 3): one ``task.dependency.changed`` per task, all with the same cause. Whatever the
    order, every workflow is flagged once, by the hub's event (it explains the most links), with bounded details;
    the readers' events of the same cause write no row again; another cause flags again."""
    monkeypatch.setattr(projections, "DETAIL_EDGES", 5)
    hub, x_reader, *readers = await new_tasks(client, 14)
    x = await new_workflow(client, [hub, x_reader])
    groups = [readers[i : i + 3] for i in range(0, 12, 3)]
    workflows = [await new_workflow(client, g) for g in groups]
    cause = f"lineage-{uuid.uuid4()}"
    downstream = (x_reader, *readers)

    # a reader's event first (1 link: left to the hub's event, whose task's projection does not show it yet: no
    # flag), then the hub's (13 links), then the other readers' (1 link each)
    await apply_change(deps, readers[4], new_upstream=(hub,), cause_event_id=cause)
    for wid in (x["id"], workflows[1]["id"]):
        assert (await client.get(f"/internal/workflows/{wid}")).json()["needs_attention"] is False
    await apply_change(deps, hub, new_downstream=downstream, cause_event_id=cause)
    for r in readers[:4] + readers[5:]:
        await apply_change(deps, r, new_upstream=(hub,), cause_event_id=cause)

    async with unit_of_work(deps.sessions) as session:
        rows = (
            await session.execute(
                text(
                    "SELECT id, needs_attention, attention_reason, attention_details FROM data_workflow "
                    "WHERE id = ANY(:ids)"
                ),
                {"ids": [x["id"], *(w["id"] for w in workflows)]},
            )
        ).all()
    assert len(rows) == 5
    for row in rows:
        d = row.attention_details
        assert row.needs_attention
        assert (d["cause_event_id"], d["task_id"], d["kind"]) == (cause, hub, "cross_workflow"), row.id
        assert (d["weight"], d["cross_edge_count"], len(d["cross_edges"])) == (12, 12, 5)
        assert (len(d["edges_added"]), d["edges_added_count"]) == (5, 13)
        assert d["workflow_count"] == 5
        assert row.attention_reason.endswith(
            "and 2 more; not applied: move the tasks into one workflow (migration) or handle the dependency by hand"
        )

    # the same cause again (a reader's event, a copy of the hub's): nothing is written; another cause writes
    async with unit_of_work(deps.sessions) as session:
        same = await workflow_repo.set_attention(
            session, [x["id"], workflows[0]["id"]], "again", {"kind": "cross_workflow"}, cause=cause, weight=12
        )
        other = await workflow_repo.set_attention(
            session, [workflows[0]["id"]], "other", {"kind": "cross_workflow"}, cause="another", weight=1
        )
    assert (same, other) == ([], [workflows[0]["id"]])


def change(task: int, **kw: Any) -> TaskDependencyChanged:
    base: dict[str, Any] = {"old_upstream": (), "new_upstream": (), "old_downstream": (), "new_downstream": ()}
    return TaskDependencyChanged(task_id=task, **{**base, **kw})


async def test_a_batch_writes_one_version_per_workflow_and_each_flag_once(
    client: httpx.AsyncClient, deps: Deps
) -> None:
    """A batch of events (one consumer poll, ``apply_dependency_changes``): the edges of a workflow's events applied
    in order as ONE version, an event whose edge would close a cycle flagged and skipped; the links across workflows
    of one lineage event flag each workflow once (the event explaining most links); the projection holds each
    task's last sets; the same events again change nothing."""
    a, b, c, x, y1, y2 = await new_tasks(client, 6)
    w1 = await new_workflow(client, [a, b, c])
    wx, wy = await new_workflow(client, [x]), await new_workflow(client, [y1, y2])
    cause = f"lineage-{uuid.uuid4()}"
    batch = [
        change(b, new_upstream=(a,)),
        change(c, new_upstream=(b,)),
        change(a, new_upstream=(c,)),  # c → a closes a → b → c → a: flagged, not applied
        change(y1, new_upstream=(x,), cause_event_id=cause),  # one link across: weight 1
        change(x, new_downstream=(y1, y2), cause_event_id=cause),  # two links: weight 2, wins
        change(y2, new_upstream=(x,), cause_event_id=cause),
    ]
    ids = [(e, f"batch-{uuid.uuid4()}") for e in batch]
    async with unit_of_work(deps.sessions) as session:
        await projections.apply_dependency_changes(session, deps, ids)

    d1 = (await client.get(f"/internal/workflows/{w1['id']}")).json()
    assert d1["current_version_no"] == 2
    assert d1["edges"] == [
        {"upstream_task_id": a, "downstream_task_id": b},
        {"upstream_task_id": b, "downstream_task_id": c},
    ]
    assert d1["needs_attention"] is True
    assert (d1["attention_details"]["kind"], d1["attention_details"]["task_id"]) == ("cycle", a)
    for wid in (wx["id"], wy["id"]):
        d = (await client.get(f"/internal/workflows/{wid}")).json()
        assert d["current_version_no"] == 1
        details = d["attention_details"]
        assert (details["kind"], details["task_id"], details["weight"], details["cause_event_id"]) == (
            "cross_workflow",
            x,
            2,
            cause,
        )
    r = await client.get("/internal/tasks", params={"upstream_task_id": x})
    assert sorted(t["id"] for t in r.json()["items"]) == sorted([y1, y2])

    # the same events once more (a replay under new ids): nothing new
    again = [(e, f"again-{uuid.uuid4()}") for e in batch[:2] + batch[3:]]
    async with unit_of_work(deps.sessions) as session:
        await projections.apply_dependency_changes(session, deps, again)
    assert (await client.get(f"/internal/workflows/{w1['id']}")).json()["current_version_no"] == 2


async def test_a_downstream_event_of_a_lineage_event_leaves_its_inside_link_to_the_upstream_event(
    client: httpx.AsyncClient, deps: Deps
) -> None:
    """One version per workflow and lineage event, one event per transaction, in the order that gave two: a
    reader's event first (its writer's projection does not show the link yet: left to the writer's event), then
    the writer's (all its links), then another reader's (already there)."""
    writer, r1, r2, r3 = await new_tasks(client, 4)
    wf = await new_workflow(client, [writer, r1, r2, r3])
    cause = f"lineage-{uuid.uuid4()}"
    await apply_change(deps, r2, new_upstream=(writer,), cause_event_id=cause)
    assert (await client.get(f"/internal/workflows/{wf['id']}")).json()["current_version_no"] == 1
    await apply_change(deps, writer, new_downstream=(r1, r2, r3), cause_event_id=cause)
    await apply_change(deps, r1, new_upstream=(writer,), cause_event_id=cause)
    await apply_change(deps, r3, new_upstream=(writer,), cause_event_id=cause)
    d = (await client.get(f"/internal/workflows/{wf['id']}")).json()
    assert d["current_version_no"] == 2
    assert d["edges"] == [{"upstream_task_id": writer, "downstream_task_id": r} for r in sorted([r1, r2, r3])]
    # the link goes (a new lineage event): the reader's event first again, the writer's removes it
    gone = f"lineage-{uuid.uuid4()}"
    await apply_change(deps, r1, old_upstream=(writer,), cause_event_id=gone)
    assert (await client.get(f"/internal/workflows/{wf['id']}")).json()["current_version_no"] == 2
    await apply_change(deps, writer, old_downstream=(r1, r2, r3), new_downstream=(r2, r3), cause_event_id=gone)
    d = (await client.get(f"/internal/workflows/{wf['id']}")).json()
    assert d["current_version_no"] == 3
    assert d["edges"] == [{"upstream_task_id": writer, "downstream_task_id": r} for r in sorted([r2, r3])]


async def test_a_new_reader_of_several_tables_gets_its_links_as_one_version(
    client: httpx.AsyncClient, deps: Deps
) -> None:
    """The mirror of a hub writer: a task starts reading three tables written by three tasks of its workflow. The
    writers' one-link events come first (the reader's projection does not show them yet: left to its event), the
    reader's event (three links) applies them as one version."""
    reader, *writers = await new_tasks(client, 4)
    wf = await new_workflow(client, [reader, *writers])
    cause = f"lineage-{uuid.uuid4()}"
    for w in writers:
        await apply_change(deps, w, new_downstream=(reader,), cause_event_id=cause)
    assert (await client.get(f"/internal/workflows/{wf['id']}")).json()["current_version_no"] == 1
    await apply_change(deps, reader, new_upstream=tuple(writers), cause_event_id=cause)
    d = (await client.get(f"/internal/workflows/{wf['id']}")).json()
    assert d["current_version_no"] == 2
    assert d["edges"] == [{"upstream_task_id": w, "downstream_task_id": reader} for w in sorted(writers)]


@pytest.mark.parametrize("reader_first", [True, False])
async def test_a_lineage_event_that_flags_a_workflow_writes_no_version_of_it_in_any_order(
    client: httpx.AsyncClient, deps: Deps, reader_first: bool
) -> None:
    """A new writer of a table read by a task of its workflow and by a task of another: its event links across
    workflows (both flagged, nothing applied), and its reader inside the workflow gets no version from that lineage
    event either, whether the reader's one-link event comes before the writer's or after it."""
    writer, inner, outer = await new_tasks(client, 3)
    home, other = await new_workflow(client, [writer, inner]), await new_workflow(client, [outer])
    cause = f"lineage-{uuid.uuid4()}"
    events = [
        lambda: apply_change(deps, writer, new_downstream=(inner, outer), cause_event_id=cause),
        lambda: apply_change(deps, inner, new_upstream=(writer,), cause_event_id=cause),
        lambda: apply_change(deps, outer, new_upstream=(writer,), cause_event_id=cause),
    ]
    for apply in [events[1], events[0], events[2]] if reader_first else events:
        await apply()
    for wid in (home["id"], other["id"]):
        d = (await client.get(f"/internal/workflows/{wid}")).json()
        assert (d["current_version_no"], d["needs_attention"], d["edges"]) == (1, True, [])
        assert d["attention_details"]["cause_event_id"] == cause
