"""The steady-state sync by page digest: DS answers the bytes the cache was written from -> nothing parsed or written;
anything that could make the same bytes mean another cache clears the digest first."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from common.dolphin.models import Page, WorkflowInstance
from common.dolphin.rest import Digested
from history_sync import service
from history_sync.db.tables import tracked_workflow, workflow_instance_cache
from history_sync.deps import Deps
from history_sync.ports import DolphinHistory

from .conftest import Db, Ds, SettingsFactory, publish_completed, track
from .test_sync import _make_due
from .test_task_metrics import CountingDolphin

pytestmark = pytest.mark.timeout(240)


class PageReads(CountingDolphin):
    """Counts task reads (``CountingDolphin``) and records, per digested page read, whether it was parsed."""

    def __init__(self, inner: DolphinHistory) -> None:
        super().__init__(inner)
        self.parsed: list[bool] = []

    async def list_workflow_instances_digested(
        self, project_code: int, workflow_code: int, *, page_size: int = 10, known_digest: bytes | None = None
    ) -> Digested[Page[WorkflowInstance]]:
        answer = await self.inner.list_workflow_instances_digested(
            project_code, workflow_code, page_size=page_size, known_digest=known_digest
        )
        self.parsed.append(answer.data is not None)
        return answer


def _counting(deps_for: Any, settings: Any) -> tuple[Deps, PageReads]:
    base: Deps = deps_for(settings)
    reads = PageReads(base.dolphin)
    return Deps(base.settings, base.sessions, base.outbox, reads), reads


async def _online_with_a_finished_run(ds: Ds, name: str) -> int:
    code = await ds.deploy(name)
    await ds.online(code)
    await ds.wait_finished(await ds.run(code))
    return code


async def _digest(hdb: Db, workflow_id: int) -> bytes | None:
    async with hdb.sessions() as s:
        value = await s.scalar(select(tracked_workflow.c.page_digest).where(tracked_workflow.c.id == workflow_id))
    return None if value is None else bytes(value)


async def _version_ids(hdb: Db, workflow_id: int) -> list[int | None]:
    async with hdb.sessions() as s:
        rows = await s.execute(
            select(workflow_instance_cache.c.platform_version_id)
            .where(workflow_instance_cache.c.workflow_id == workflow_id)
            .order_by(workflow_instance_cache.c.rank)
        )
        return [r.platform_version_id for r in rows]


async def test_an_unchanged_page_is_not_parsed_and_a_version_learned_later_still_reaches_the_cache(
    hdb: Db, ds: Ds, make_settings: SettingsFactory, deps_for: Any
) -> None:
    code = await ds.deploy("digest")
    await ds.online(code)
    run = await ds.run(code)
    await ds.wait_finished(run)
    deps, reads = _counting(deps_for, make_settings(ds.emulator, sync_interval_s=300.0, lease_s=60.0))
    await track(hdb.sessions, publish_completed(41, code, ds.project_code, version_id=1, engine_version=1))

    report = await service.sync_due_workflows(deps)
    assert (report.result.synced, report.result.changed) == (1, 1)
    assert reads.parsed == [True]
    assert await _digest(hdb, 41) is not None
    assert await _version_ids(hdb, 41) == [1]

    # nothing changed in DS: the same bytes, not parsed; still a sync (counted, logged, next one planned)
    await _make_due(hdb)
    report = await service.sync_due_workflows(deps)
    assert (report.result.synced, report.result.failed, report.result.changed) == (1, 0, 0)
    assert reads.parsed == [True, False]
    async with hdb.sessions() as s:
        row = (await s.execute(select(tracked_workflow).where(tracked_workflow.c.id == 41))).one()
    assert (row.sync_count, row.lease_owner, row.last_error) == (2, None, None)

    # a publish maps DS version 1 to platform version 2: DS answers the same bytes, but the cache must say 2
    await track(hdb.sessions, publish_completed(41, code, ds.project_code, version_id=2, engine_version=1))
    assert await _digest(hdb, 41) is None
    await _make_due(hdb)
    report = await service.sync_due_workflows(deps)
    assert (report.result.synced, report.result.changed) == (1, 1)
    assert reads.parsed == [True, False, True]
    assert await _version_ids(hdb, 41) == [2]

    # a new run changes the bytes: parsed, cached
    newer = await ds.run(code)
    await ds.wait_finished(newer)
    await _make_due(hdb)
    report = await service.sync_due_workflows(deps)
    assert report.result.changed == 1
    assert reads.parsed == [True, False, True, True]


async def test_an_on_demand_refresh_clears_the_digest(
    hdb: Db, ds: Ds, make_settings: SettingsFactory, deps_for: Any
) -> None:
    code = await _online_with_a_finished_run(ds, "refreshed")
    deps, reads = _counting(deps_for, make_settings(ds.emulator, sync_interval_s=300.0, lease_s=60.0))
    await track(hdb.sessions, publish_completed(42, code, ds.project_code))
    await service.sync_due_workflows(deps)
    stored = await _digest(hdb, 42)
    assert stored is not None

    newer = await ds.run(code)
    await ds.wait_finished(newer)
    view = await service.get_executions(deps, 42, max_age_s=0.0)  # the on-demand read writes the cache itself
    assert view.refreshed
    assert view.executions[0].instance_id == newer
    assert await _digest(hdb, 42) is None

    await _make_due(hdb)
    await service.sync_due_workflows(deps)
    assert reads.parsed == [True, True]  # read again after the refresh, and its digest kept from then on
    assert await _digest(hdb, 42) not in (None, stored)


async def test_the_digest_is_kept_only_once_every_finished_run_has_its_tasks_read(
    hdb: Db, ds: Ds, make_settings: SettingsFactory, deps_for: Any
) -> None:
    code = await ds.deploy("capped")
    await ds.online(code)
    runs = [await ds.run(code) for _ in range(3)]
    for r in runs:
        await ds.wait_finished(r)
    deps, reads = _counting(
        deps_for, make_settings(ds.emulator, sync_interval_s=300.0, lease_s=60.0, task_reads_per_sync=2)
    )
    await track(hdb.sessions, publish_completed(43, code, ds.project_code))

    await service.sync_due_workflows(deps)  # two of the three runs read (the cap): one left
    assert sum(reads.task_reads.values()) == 2
    assert await _digest(hdb, 43) is None
    await _make_due(hdb)
    await service.sync_due_workflows(deps)  # the same bytes, but read again: the third run's tasks
    assert reads.parsed == [True, True]
    assert reads.task_reads == {r: 1 for r in runs}
    assert await _digest(hdb, 43) is not None
    await _make_due(hdb)
    await service.sync_due_workflows(deps)
    assert reads.parsed == [True, True, False]
    assert reads.task_reads == {r: 1 for r in runs}


async def test_no_digest_while_task_reads_are_off(
    hdb: Db, ds: Ds, make_settings: SettingsFactory, deps_for: Any
) -> None:
    code = await _online_with_a_finished_run(ds, "no-tasks")
    deps, reads = _counting(
        deps_for, make_settings(ds.emulator, sync_interval_s=300.0, lease_s=60.0, task_reads_per_sync=0)
    )
    await track(hdb.sessions, publish_completed(44, code, ds.project_code))
    for _ in range(2):
        await _make_due(hdb)
        await service.sync_due_workflows(deps)
    # turning the reads on later must not find runs vouched for by a digest taken without them
    assert reads.parsed == [True, True]
    assert await _digest(hdb, 44) is None
