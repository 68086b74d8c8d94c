"""Bulk republish on real PostgreSQL + Kafka + the DS emulator: plan (skip unchanged by content hash), dispatch through
the normal publish path, resume after a replica died mid-publish, two replicas sharing a run, the shared rate limit,
a publish in flight not doubled, failures listed with their reason."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from sqlalchemy import select, update

from common.db import unit_of_work
from common.dolphin import ReleaseState
from common.errors import Conflict
from common.events.models import PublishOutcome
from common.testing.service import running
from publisher import republish
from publisher.config import Settings
from publisher.db import repository as repo
from publisher.db.tables import republish_item, workflow_publish_record
from publisher.deps import Deps
from publisher.main import create_app
from publisher.republish_cli import _deps
from publisher.service import acceptance

from .conftest import Harness, request, shell, snapshot

pytestmark = pytest.mark.timeout(240)

R = workflow_publish_record


def replica(harness: Harness, instance: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"instance_id": instance, "republish_interval_s": 0.1, **overrides}
    return harness.settings.model_copy(update=values)


@pytest.fixture
async def deps(harness_parts: Harness) -> AsyncIterator[Deps]:
    async with _deps(harness_parts.settings) as d:
        yield d


async def deploy_all(harness: Harness, workflow_ids: list[int], *, online: tuple[int, ...] = ()) -> None:
    """Deploy each workflow (3 SHELL tasks) through Kafka; put ``online`` ones online too."""
    requests = []
    for wid in workflow_ids:
        snap = snapshot(wid, [shell(1), shell(2), shell(3)], [(1, 2), (2, 3)])
        requests.append(request(snap, "online" if wid in online else "deploy"))
    for req in requests:
        await harness.send(req)
    for req in requests:
        rec = await harness.record(req.request_id, timeout_s=60)
        assert rec.status == "success", rec.log


def bump_converter(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a release of the publisher with a new converter does: every deployed hash is stale."""
    # the module (``publisher.domain.convert`` the name is the function)
    monkeypatch.setattr(sys.modules["publisher.domain.convert"], "CONVERTER_VERSION", "ds-3.3/republish-test")


async def wait_over(deps: Deps, run_id: int, timeout_s: float = 90.0) -> republish.RunView:
    deadline = time.monotonic() + timeout_s
    while True:
        view = await republish.status(deps, run_id, failures=100)
        if view.status in ("done", "cancelled"):
            return view
        assert time.monotonic() < deadline, view
        await asyncio.sleep(0.1)


async def items(harness: Harness, run_id: int) -> dict[int, Any]:
    async with harness.sessions() as s:
        rows = (await s.execute(select(republish_item).where(republish_item.c.run_id == run_id))).all()
    return {int(r.workflow_id): r for r in rows}


async def republish_records(harness: Harness, run_id: int) -> list[Any]:
    async with harness.sessions() as s:
        return list((await s.execute(select(R).where(R.c.republish_run_id == run_id).order_by(R.c.id))).all())


async def start(deps: Deps, **kw: Any) -> republish.PlanView:
    args: dict[str, Any] = {"requested_by": "ops", "reason": "converter bump", "rate_per_s": 100.0, "max_in_flight": 8}
    args.update(kw)
    return await republish.plan(deps, **args)


async def test_unchanged_workflows_are_skipped_and_changed_ones_republished_through_the_publish_path(
    harness: Harness, deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    await deploy_all(harness, [11, 12, 13], online=(12,))
    await harness.completed(3)
    # nothing changed: every workflow is skipped by its content hash, and a dry run writes nothing
    dry = await start(deps, dry_run=True)
    assert (dry.run_id, dry.total, dry.to_republish, dry.skipped) == (None, 3, 0, 3)
    unchanged = await start(deps)
    assert unchanged.to_republish == 0
    assert (await republish.status(deps, unchanged.run_id)).status == "done"
    assert await republish_records(harness, unchanged.run_id or 0) == []

    bump_converter(monkeypatch)
    plan = await start(deps, workflow_ids=None)
    assert (plan.total, plan.to_republish, plan.skipped, plan.failed) == (3, 3, 0, 0)
    assert plan.planned_in_s > 0
    assert plan.run_id is not None
    view = await wait_over(deps, plan.run_id)
    assert (view.status, view.republished, view.skipped, view.failed, view.pending, view.queued) == (
        "done", 3, 0, 0, 0, 0,
    )  # fmt: skip
    assert view.rate_per_s is not None
    assert view.eta_s == 0.0
    records = await republish_records(harness, plan.run_id)
    assert sorted(r.workflow_id for r in records) == [11, 12, 13]
    by_workflow = await items(harness, plan.run_id)
    for rec in records:
        assert (rec.operation, rec.status, rec.operator, rec.attempts) == ("deploy", "success", "republish", 1)
        assert f"republish run {plan.run_id} (asked by ops: converter bump)" in rec.log
        assert rec.republish_of is not None
        assert "approved by the definition service" in rec.log
        assert "createOrUpdateWorkflow" in rec.log  # sent to DS (same DS JSON here: DS keeps its version)
        assert "read back" in rec.log
        assert rec.content_hash == by_workflow[rec.workflow_id].planned_hash
        dag = await harness.ds.get_workflow_definition(rec.project_code, rec.engine_workflow_code)
        # deploy keeps the release state: the online workflow is online again
        expected = ReleaseState.ONLINE if rec.workflow_id == 12 else ReleaseState.OFFLINE
        assert dag.workflow_definition.release_state is expected
    async with unit_of_work(deps.sessions) as s:
        engines = await repo.engine_workflows_of(s, [11, 12, 13])
    assert {w: e.last_deployed_hash for w, e in engines.items()} == {w: i.planned_hash for w, i in by_workflow.items()}
    assert {w: (i.status, i.record_id) for w, i in by_workflow.items()} == {
        r.workflow_id: ("republished", r.id) for r in records
    }
    events = [e for e in await harness.completed(6) if e.record_id in {r.id for r in records}]
    assert sorted(e.workflow_id for e in events) == [11, 12, 13]
    assert {e.outcome for e in events} == {PublishOutcome.SUCCESS}

    # the progress as metrics of the publisher (every replica exports the run's counts from the database)
    assert harness.client is not None
    deadline = time.monotonic() + 15
    while 'republish_items{status="republished"} 3.0' not in (metrics := (await harness.client.get("/metrics")).text):
        assert time.monotonic() < deadline, metrics
        await asyncio.sleep(0.2)
    assert 'republish_items{status="total"} 3.0' in metrics
    assert 'republish_items_finished_total{status="republished"}' in metrics
    assert "republish_eta_seconds 0.0" in metrics

    # republished: the same converter now finds nothing to do
    again = await start(deps)
    assert (again.to_republish, again.skipped) == (0, 3)


async def test_a_replica_killed_mid_publish_and_the_cli_stopped_resume_with_nothing_done_twice(
    harness_parts: Harness, deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = harness_parts
    async with running(create_app(replica(harness, "a"))):
        await deploy_all(harness, list(range(21, 27)))
    bump_converter(monkeypatch)
    plan = await start(deps, max_in_flight=3)
    assert plan.run_id is not None
    assert plan.to_republish == 6
    # replica "dead" dispatched three items and claimed one record, then died (no process runs now)
    made = await republish.dispatch(deps)
    assert made is not None
    assert made.made == 3
    async with unit_of_work(deps.sessions) as s:
        abandoned = await repo.claim(s, lease_s=1.0, owner="dead")
    assert abandoned is not None
    assert abandoned.republish_run_id == plan.run_id
    view = await republish.status(deps, plan.run_id)
    assert (view.status, view.queued, view.pending) == ("running", 3, 3)

    # replica "b" comes up: it runs the queued records, re-runs the abandoned one after its lease, dispatches the rest
    async with running(create_app(replica(harness, "b", publish_lease_s=1.0))):
        view = await wait_over(deps, plan.run_id)
    assert (view.republished, view.failed) == (6, 0)
    records = await republish_records(harness, plan.run_id)
    assert sorted(r.workflow_id for r in records) == list(range(21, 27))  # one record per item
    assert all(r.status == "success" and r.claimed_by == "b" for r in records)
    rerun = next(r for r in records if r.id == abandoned.id)
    assert rerun.attempts == 2
    assert "attempt 2: the previous attempt was interrupted" in rerun.log
    assert all(r.attempts == 1 for r in records if r.id != abandoned.id)


async def test_two_replicas_share_a_run_at_the_rate_limit_with_no_item_done_twice(
    harness_parts: Harness, deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = harness_parts
    workflows = list(range(31, 43))
    async with running(create_app(replica(harness, "a"))):
        await deploy_all(harness, workflows)
    bump_converter(monkeypatch)
    harness.emulator.set_global_latency(30)
    rate = 6.0
    plan = await start(deps, rate_per_s=rate, max_in_flight=6)
    assert plan.run_id is not None
    async with AsyncExitStack() as stack:
        for name in ("a", "b"):
            await stack.enter_async_context(running(create_app(replica(harness, name, publish_workers=2))))
        view = await wait_over(deps, plan.run_id)
    assert (view.republished, view.failed) == (12, 0)
    records = await republish_records(harness, plan.run_id)
    assert sorted(r.workflow_id for r in records) == workflows
    assert all(r.attempts == 1 and r.status == "success" for r in records)
    assert {r.claimed_by for r in records} == {"a", "b"}  # both replicas published
    # the limit held across both replicas: after the burst, no faster than the rate
    queued = sorted(i.queued_at for i in (await items(harness, plan.run_id)).values())
    burst = int(rate)
    for k, at in enumerate(queued):
        assert (at - queued[0]).total_seconds() >= (k - burst + 1) / rate - 0.01, (k, queued)


async def test_a_workflow_with_a_publish_in_flight_is_not_published_twice_or_rolled_back(
    harness_parts: Harness, deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = harness_parts
    async with running(create_app(replica(harness, "a"))):
        await deploy_all(harness, [51, 52])
    bump_converter(monkeypatch)
    plan = await start(deps)
    assert plan.run_id is not None
    assert plan.to_republish == 2
    # a user's publish of version 2 of workflow 51 is accepted and in flight (claimed by a replica, lease fresh)
    v2 = request(snapshot(51, [shell(1), shell(2, "echo v2"), shell(3)], [(1, 2), (2, 3)]), "deploy", version_no=2)
    async with unit_of_work(deps.sessions) as s:
        v2_id = await acceptance.accept_publish(s, deps, v2)
    async with unit_of_work(deps.sessions) as s:
        claimed = await repo.claim(s, lease_s=300.0, owner="busy", record_id=v2_id)
    assert claimed is not None
    made = await republish.dispatch(deps)
    assert made is not None
    assert made.made == 1
    assert {w: i.status for w, i in (await items(harness, plan.run_id)).items()} == {51: "pending", 52: "queued"}

    # the in-flight publish's process restarted (its claim released): a replica runs it, then the republish item
    async with unit_of_work(deps.sessions) as s:
        await s.execute(update(R).where(R.c.id == v2_id).values(claimed_at=None))
    async with running(create_app(replica(harness, "a"))):
        view = await wait_over(deps, plan.run_id)
    assert (view.republished, view.skipped, view.failed) == (1, 1, 0)
    by_workflow = await items(harness, plan.run_id)
    assert by_workflow[51].status == "skipped"
    assert by_workflow[51].reason == "unchanged when it ran: DS holds this definition already"
    records = {r.workflow_id: r for r in await republish_records(harness, plan.run_id)}
    # the republish of 51 repeated what DS holds now (version 2, deployed with the new converter): nothing sent
    assert (records[51].version_no, records[51].status, records[51].republish_of) == (2, "skipped_unchanged", v2_id)
    v2_record = await harness.record(v2.request_id)
    assert v2_record.status == "success"
    dag = await harness.ds.get_workflow_definition(v2_record.project_code, v2_record.engine_workflow_code)
    assert {t.name: t.task_params["rawScript"] for t in dag.task_definition_list}["task-2"] == "echo v2"


async def test_failures_are_listed_with_their_reason_and_cancel_stops_the_rest(
    harness_parts: Harness, deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = harness_parts
    async with running(create_app(replica(harness, "a"))):
        await deploy_all(harness, [61, 62, 63, 64], online=(61,))
    async with harness.sessions() as s:
        code = (await s.execute(select(R.c.engine_workflow_code).where(R.c.workflow_id == 61))).scalars().first()
    harness.emulator.add_fault("ds_error", match=rf"/workflow-definition/{code}/release$", dsCode=50035, dsMsg="no")
    bump_converter(monkeypatch)
    plan = await start(deps, rate_per_s=1.0, max_in_flight=1)
    assert plan.run_id is not None
    assert plan.to_republish == 4
    async with running(create_app(replica(harness, "a"))):
        deadline = time.monotonic() + 60
        while (view := await republish.status(deps, plan.run_id)).failed == 0:
            assert time.monotonic() < deadline, view
            await asyncio.sleep(0.1)
        cancelled = await republish.set_status(deps, plan.run_id, "cancel", "ops")
        assert cancelled.status == "cancelled"
        with pytest.raises(Conflict, match="cannot be resumed"):
            await republish.set_status(deps, plan.run_id, "resume", "ops")
        view = await wait_over(deps, plan.run_id)
        # the failed republish left 61 offline (intended online): the reconciler's restore attempt repeats it under
        # the same approval — refused by DS's release again here, not by the approval check
        deadline = time.monotonic() + 60
        while True:
            async with harness.sessions() as s:
                attempt = (
                    await s.execute(
                        select(R).where(R.c.workflow_id == 61, R.c.operator == "reconciler", R.c.status == "failed")
                    )
                ).first()
            if attempt is not None:
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        assert "approved by the definition service" in attempt.log
        assert attempt.error_code == 50035
    view = await republish.status(deps, plan.run_id)
    [failure] = view.failures
    assert failure.workflow_id == 61
    assert failure.reason is not None
    assert failure.reason.startswith("50035: ")
    assert view.cancelled >= 1
    assert view.republished + view.failed + view.cancelled == 4
    assert len(await republish_records(harness, plan.run_id)) == view.republished + view.failed
    # a new run may start once this one is over (the cancelled items still differ); two open at once are refused
    follow_up = await start(deps)
    assert follow_up.run_id is not None
    assert follow_up.to_republish >= 2
    with pytest.raises(Conflict, match=f"republish run {follow_up.run_id} is running"):
        await start(deps)


async def test_a_paused_run_dispatches_nothing_until_it_is_resumed(
    harness_parts: Harness, deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = harness_parts
    async with running(create_app(replica(harness, "a"))):
        await deploy_all(harness, [71, 72, 73])
    bump_converter(monkeypatch)
    plan = await start(deps, max_in_flight=1)
    assert plan.run_id is not None
    paused = await republish.set_status(deps, plan.run_id, "pause", "ops")
    assert (paused.status, paused.pending) == ("paused", 3)
    assert paused.eta_s is None  # nothing moves while paused
    assert await republish.dispatch(deps) is None  # no running run to dispatch
    with pytest.raises(Conflict, match="cannot be paused"):
        await republish.set_status(deps, plan.run_id, "pause", "ops")
    async with running(create_app(replica(harness, "a"))):
        await asyncio.sleep(1.0)  # a replica's dispatcher looks several times
        assert await republish_records(harness, plan.run_id) == []
        resumed = await republish.set_status(deps, plan.run_id, "resume", "ops")
        assert resumed.status == "running"
        view = await wait_over(deps, plan.run_id)
    assert (view.status, view.republished) == ("done", 3)
    assert len(await republish_records(harness, plan.run_id)) == 3
