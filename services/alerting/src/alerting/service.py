"""Use cases of the alerting service: record alerts (from Kafka and the history-sync poll), deliver them to the IM
channels under their rate limits, run the consistency inspection and open its tickets, and the read models."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from alerting import metrics
from alerting.db import repository as repo
from alerting.deps import Deps
from alerting.domain import alerts as A
from alerting.domain import inspection as I
from alerting.domain.ratelimit import decide
from alerting.domain.webhooks import Verdict, backoff_s
from common.db import unit_of_work
from common.errors import NotFound, PlatformError
from common.events.models import PublishCompleted, PublishOutcome, WorkflowExecutionFailed

log = logging.getLogger(__name__)

T = TypeVar("T")

# ---------------------------------------------------------------------------------------------------------------
# Recording alerts (inside the caller's transaction: the consumer's inbox claim, or the poll's own)


async def record_alert(session: AsyncSession, deps: Deps, alert: A.Alert) -> bool:
    """Store the incident once and queue one delivery per channel; a known incident only counts the occurrence.
    Returns whether the incident is new."""
    alert_id, created = await repo.upsert_alert(session, alert)
    if created:
        await repo.add_deliveries(session, alert_id, deps.notifiers.keys(), deps.clock.now())
        metrics.ALERTS.labels(alert.kind.value).inc()
        log.info("alert %s (%s) queued for %d channel(s)", alert.incident_key, alert.kind.value, len(deps.notifiers))
    return created


async def on_publish_completed(session: AsyncSession, deps: Deps, event: PublishCompleted) -> None:
    if event.outcome is PublishOutcome.FAILED:
        await record_alert(session, deps, A.publish_failed(event))


async def on_execution_failed(session: AsyncSession, deps: Deps, event: WorkflowExecutionFailed) -> None:
    await record_alert(session, deps, A.execution_failed(event))


@dataclass(frozen=True)
class DeadLetter:
    #: the original topic without the environment prefix
    topic: str
    reason: str | None
    consumer: str | None
    error_type: str | None


async def on_dead_letter(session: AsyncSession, deps: Deps, dl: DeadLetter) -> None:
    now = deps.clock.now()
    await repo.count_dead_letter(session, dl.topic, now, A.clip(dl.reason))
    metrics.DEAD_LETTERS.labels(dl.topic).inc()
    alert = A.dead_letters(
        dl.topic,
        at=now,
        window_s=deps.settings.dlq_window_s,
        reason=dl.reason,
        consumer=dl.consumer,
        error_type=dl.error_type,
    )
    await record_alert(session, deps, alert)


async def check_history_staleness(deps: Deps) -> int:
    """Ask history-sync for workflows not synced for ``stale_cycles`` cycles; alert each new incident."""
    report = await deps.history.stale(deps.settings.stale_cycles)
    now = deps.clock.now()
    created = 0
    async with unit_of_work(deps.sessions) as s:
        for w in report.workflows:
            alert = A.history_stale(
                workflow_id=w.workflow_id,
                project_code=w.project_code,
                workflow_code=w.workflow_code,
                last_synced_at=w.last_synced_at,
                age_s=w.age_s,
                threshold_s=report.threshold_s,
                last_error=w.last_error,
                now=now,
            )
            created += await record_alert(s, deps, alert)
    return created


# ---------------------------------------------------------------------------------------------------------------
# Delivery


@dataclass(frozen=True)
class DeliveryStep:
    #: alerts carried by the message just attempted (0: nothing was sent)
    carried: int
    #: seconds until a token frees up when alerts wait for one; None when nothing waits
    wait_s: float | None
    verdict: Verdict | None = None


async def deliver_once(deps: Deps, channel: str) -> DeliveryStep:
    """Send the next message of ``channel`` (one alert, or a digest when behind) if its token bucket allows."""
    cfg = deps.channels[channel]
    notifier = deps.notifiers[channel]
    s = deps.settings
    now = deps.clock.now()
    message_id = uuid.uuid4().hex
    async with unit_of_work(deps.sessions) as session:
        bucket = await repo.lock_bucket(session, channel, burst=cfg.burst, now=now)
        backlog = await repo.count_due(session, channel, now)
        d = decide(
            bucket,
            now,
            backlog=backlog,
            rate_per_s=cfg.rate_per_minute / 60.0,
            burst=cfg.burst,
            digest_max=cfg.digest_max,
        )
        claimed = []
        if d.size:
            lease = now + timedelta(seconds=3 * s.delivery_timeout_s + 5)
            claimed = await repo.claim_due(
                session, channel, now, limit=d.size, lease_until=lease, message_id=message_id
            )
        if claimed:
            await repo.save_bucket(session, channel, d.bucket)
    if not claimed:
        return DeliveryStep(0, d.wait_s if backlog else None)

    alerts = [A.Alert.from_json(r.payload) for r in claimed]
    answer = await notifier.send(alerts)
    metrics.DELIVERIES.labels(channel, answer.verdict.value).inc()
    done = deps.clock.now()
    ids = [int(r.id) for r in claimed]
    async with unit_of_work(deps.sessions) as session:
        if answer.verdict is Verdict.OK:
            await repo.mark_sent(session, ids, done)
        elif answer.verdict is Verdict.FAIL:
            await repo.mark_failed(session, ids, answer.detail)
        else:
            exhausted = [int(r.id) for r in claimed if r.attempts >= s.delivery_max_attempts]
            if exhausted:
                await repo.mark_failed(
                    session, exhausted, f"gave up after {s.delivery_max_attempts} attempts: {answer.detail}"
                )
            for r in claimed:
                if r.attempts < s.delivery_max_attempts:
                    delay = backoff_s(int(r.attempts), base_s=s.retry_base_s, max_s=s.retry_max_s)
                    delay *= random.uniform(1.0, 1.25)
                    await repo.reschedule(session, int(r.id), done + timedelta(seconds=delay), answer.detail)
    if answer.verdict is Verdict.OK:
        log.info("channel %s: message %s carried %d alert(s)", channel, message_id, len(alerts))
    else:
        log.warning("channel %s: message %s %s: %s", channel, message_id, answer.verdict.value, answer.detail)
    return DeliveryStep(len(alerts), 0.0, answer.verdict)


# ---------------------------------------------------------------------------------------------------------------
# Inspection


class TicketView(BaseModel):
    record_id: int
    ticket_id: str | None
    status: str
    opened_at: datetime | None
    error: str | None = None


class FindingView(BaseModel):
    finding_key: str
    kind: str
    summary: str
    subject: dict[str, Any]
    workflow_id: int | None
    ticket: TicketView | None


class ClosedTicketView(BaseModel):
    record_id: int
    finding_key: str
    kind: str
    ticket_id: str | None


class InspectionReport(BaseModel):
    id: int
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    #: per check: "ok" or why it could not run (its open tickets then stay open)
    checks: dict[str, str]
    summary: dict[str, Any]
    findings: list[FindingView]
    closed_tickets: list[ClosedTicketView]


@dataclass
class Gathered:
    findings: list[I.Finding]
    checks: dict[str, str]
    inconclusive: set[str]

    @property
    def completed(self) -> set[I.FindingKind]:
        return {k for k in I.FindingKind if self.checks.get(k.value) == "ok"}


def _why(exc: BaseException) -> str:
    return exc.detail if isinstance(exc, PlatformError) else f"{type(exc).__name__}"


async def _bounded(limit: int, items: Iterable[T], fn: Callable[[T], Awaitable[Any]]) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def one(item: T) -> Any:
        async with sem:
            try:
                return await fn(item)
            except Exception as exc:  # reported per item by the caller
                return exc

    return list(await asyncio.gather(*(one(i) for i in items)))


async def gather_findings(deps: Deps) -> Gathered:
    """Run every check against the other services; a failing check is recorded, not fatal."""
    g = Gathered([], {}, set())
    limit = deps.settings.upstream_concurrency

    try:
        for t in await deps.definition.unassigned_tasks():
            g.findings.append(I.orphan_task(t.id, t.name))
        g.checks[I.FindingKind.ORPHAN_TASK] = "ok"
    except Exception as exc:
        g.checks[I.FindingKind.ORPHAN_TASK] = f"failed: {_why(exc)}"

    try:
        workflows = await deps.definition.workflows()
    except Exception as exc:
        workflows = None
        for k in (I.FindingKind.DANGLING_RELATION, I.FindingKind.DRIFT):
            g.checks[k] = f"failed: {_why(exc)}"

    if workflows is not None:
        structures = await _bounded(limit, [w.id for w in workflows], deps.definition.workflow_structure)
        failed = [r for r in structures if isinstance(r, Exception) and not isinstance(r, NotFound)]
        found = [r for r in structures if not isinstance(r, Exception)]
        try:
            listed = sorted({tid for st in found for tid in st.task_ids})
            owners = {t.id: t.workflow_id for t in await deps.definition.tasks(listed)} if listed else {}
            for st in found:
                g.findings.extend(I.dangling_relations(st.id, st.task_ids, st.edges, owners))
            g.checks[I.FindingKind.DANGLING_RELATION] = (
                f"failed: {len(failed)} workflow(s) could not be read ({_why(failed[0])})" if failed else "ok"
            )
        except Exception as exc:
            g.checks[I.FindingKind.DANGLING_RELATION] = f"failed: {_why(exc)}"

        deployed = [w.id for w in workflows if w.workflow_code is not None or w.publish_status == "published"]
        reports = await _bounded(limit, deployed, deps.publisher.drift)
        errors = 0
        for wid, r in zip(deployed, reports, strict=True):
            if isinstance(r, Exception):
                errors += 1
                g.inconclusive.add(f"drift:{wid}")
            elif r is None:
                continue
            elif r.status in ("drifted", "missing_in_ds"):
                g.findings.append(I.drift(wid, r.status, r.differences, r.subject))
            elif r.status != "in_sync":
                g.inconclusive.add(f"drift:{wid}")
        # the workflows that were checked may close their tickets; the ones that failed stay as they are
        g.checks[I.FindingKind.DRIFT] = "ok"
        if errors:
            g.checks["drift_unchecked"] = f"{errors} workflow(s) could not be checked; their tickets stay as they are"

    try:
        stale = await deps.history.stale(deps.settings.stale_cycles)
        for w in stale.workflows:
            last = w.last_synced_at.isoformat() if w.last_synced_at else None
            g.findings.append(I.stale_sync(w.workflow_id, last, w.age_s, w.last_error))
        g.checks[I.FindingKind.STALE_SYNC] = "ok"
    except Exception as exc:
        g.checks[I.FindingKind.STALE_SYNC] = f"failed: {_why(exc)}"
    return g


def _slot_date(slot: datetime | None) -> date | None:
    return None if slot is None else slot.date()


async def run_inspection(deps: Deps, trigger: str, *, scheduled_for: date | None = None) -> InspectionReport | None:
    """One inspection run: gather, diff against open tickets (one transaction, serialised across replicas), then
    open the new tickets. ``None`` when ``scheduled_for`` was already run."""
    async with unit_of_work(deps.sessions) as s:
        run_id = await repo.create_run(s, trigger, scheduled_for)
    if run_id is None:
        return None
    try:
        g = await gather_findings(deps)
        async with unit_of_work(deps.sessions) as s:
            await repo.lock_inspections(s)
            plan = I.plan_tickets(
                g.findings, await repo.open_tickets(s), completed_kinds=g.completed, inconclusive_keys=g.inconclusive
            )
            ticket_of: dict[str, int] = {f.key: t.id for f, t in plan.still_open}
            for f in plan.to_open:
                ticket_of[f.key] = await repo.insert_ticket(s, f, run_id)
            await repo.touch_tickets(s, [t.id for _, t in plan.still_open], run_id)
            await repo.close_tickets(s, [t.id for t in plan.to_close], run_id)
            unique = list({f.key: f for f in g.findings}.values())
            await repo.insert_findings(s, run_id, unique, ticket_of)
        metrics.TICKETS.labels("opened").inc(len(plan.to_open))
        metrics.TICKETS.labels("closed").inc(len(plan.to_close))
        opened = await open_pending_tickets(deps)
        by_kind = {k.value: 0 for k in I.FindingKind}
        for f in unique:
            by_kind[f.kind.value] += 1
        for k, n in by_kind.items():
            metrics.FINDINGS.labels(k).set(n)
        summary = {
            "findings": by_kind,
            "tickets_opened": len(plan.to_open),
            "tickets_still_open": len(plan.still_open),
            "tickets_closed": len(plan.to_close),
            "tickets_confirmed": opened,
        }
        async with unit_of_work(deps.sessions) as s:
            await repo.finish_run(s, run_id, status="completed", checks=g.checks, summary=summary)
    except Exception as exc:
        log.exception("inspection %d failed", run_id)
        async with unit_of_work(deps.sessions) as s:
            await repo.finish_run(s, run_id, status="failed", checks={"run": f"failed: {_why(exc)}"}, summary={})
        raise
    log.info("inspection %d: %s", run_id, summary)
    return await get_inspection(deps, run_id)


async def open_pending_tickets(deps: Deps) -> int:
    """Ask the ticket system for a ticket for every open record that has none yet (new, or failed before)."""
    now = deps.clock.now()
    async with unit_of_work(deps.sessions) as s:
        rows = await repo.claim_unticketed(s, now, now + timedelta(seconds=5 * deps.settings.upstream_timeout_s))
    confirmed = 0
    for r in rows:
        finding = I.Finding(
            key=r.finding_key,
            kind=I.FindingKind(r.kind),
            summary=r.summary,
            subject=r.subject,
            workflow_id=r.subject.get("workflow_id"),
        )
        try:
            ticket_id = await deps.tickets.open_ticket(
                finding, record_id=int(r.id), inspection_id=int(r.opened_run_id or 0)
            )
        except Exception as exc:
            log.warning("ticket for %s not opened: %s", r.finding_key, _why(exc))
            async with unit_of_work(deps.sessions) as s:
                await repo.set_ticket_result(s, int(r.id), ticket_id=None, error=_why(exc)[:500])
            continue
        async with unit_of_work(deps.sessions) as s:
            await repo.set_ticket_result(s, int(r.id), ticket_id=ticket_id, error=None)
        confirmed += 1
    return confirmed


def _report(run: Any, findings: Sequence[Any], closed: Sequence[Any]) -> InspectionReport:
    return InspectionReport(
        id=run.id,
        trigger=run.trigger,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        checks=dict(run.checks),
        summary=dict(run.summary),
        findings=[
            FindingView(
                finding_key=f.finding_key,
                kind=f.kind,
                summary=f.summary,
                subject=dict(f.subject),
                workflow_id=f.workflow_id,
                ticket=None
                if f.ticket_record_id is None
                else TicketView(
                    record_id=f.ticket_record_id,
                    ticket_id=f.ticket_id,
                    status=f.ticket_status,
                    opened_at=f.ticket_opened_at,
                    error=f.ticket_error,
                ),
            )
            for f in findings
        ],
        closed_tickets=[
            ClosedTicketView(record_id=t.id, finding_key=t.finding_key, kind=t.kind, ticket_id=t.ticket_id)
            for t in closed
        ],
    )


async def get_inspection(deps: Deps, run_id: int) -> InspectionReport:
    async with unit_of_work(deps.sessions) as s:
        run = await repo.run_by_id(s, run_id)
        if run is None:
            raise NotFound(f"inspection {run_id} does not exist")
        return _report(run, await repo.findings_of(s, run_id), await repo.tickets_closed_by(s, run_id))


async def latest_inspection(deps: Deps) -> InspectionReport:
    async with unit_of_work(deps.sessions) as s:
        run = await repo.latest_run(s)
        if run is None:
            raise NotFound("no inspection has run yet")
        return _report(run, await repo.findings_of(s, run.id), await repo.tickets_closed_by(s, run.id))


async def run_scheduled_inspection(deps: Deps, slot: datetime) -> InspectionReport | None:
    return await run_inspection(deps, "schedule", scheduled_for=_slot_date(slot))


# ---------------------------------------------------------------------------------------------------------------
# Read models


class DeliveryView(BaseModel):
    channel: str
    status: str
    attempts: int
    sent_at: datetime | None
    last_error: str | None


class AlertView(BaseModel):
    id: int
    incident_key: str
    kind: str
    severity: str
    workflow_id: int | None
    occurrences: int
    first_seen_at: datetime
    last_seen_at: datetime
    payload: dict[str, Any]
    deliveries: list[DeliveryView]


class AlertPage(BaseModel):
    items: list[AlertView]
    total: int
    page: int
    page_size: int


async def list_alerts(deps: Deps, *, page: int, page_size: int, kind: str | None) -> AlertPage:
    async with unit_of_work(deps.sessions) as s:
        rows, total = await repo.list_alerts(s, limit=page_size, offset=(page - 1) * page_size, kind=kind)
        deliveries = await repo.deliveries_of(s, [int(r.id) for r in rows])
    return AlertPage(
        items=[
            AlertView(
                id=r.id,
                incident_key=r.incident_key,
                kind=r.kind,
                severity=r.severity,
                workflow_id=r.workflow_id,
                occurrences=r.occurrences,
                first_seen_at=r.first_seen_at,
                last_seen_at=r.last_seen_at,
                payload=dict(r.payload),
                deliveries=[
                    DeliveryView(
                        channel=d.channel,
                        status=d.status,
                        attempts=d.attempts,
                        sent_at=d.sent_at,
                        last_error=d.last_error,
                    )
                    for d in deliveries.get(int(r.id), [])
                ],
            )
            for r in rows
        ],
        total=total,
        page=page,
        page_size=page_size,
    )


class DeadLetterCount(BaseModel):
    topic: str
    total: int
    last_seen_at: datetime
    last_reason: str | None


async def dead_letter_counts(deps: Deps) -> list[DeadLetterCount]:
    async with unit_of_work(deps.sessions) as s:
        rows = await repo.dead_letter_counts(s)
    return [
        DeadLetterCount(topic=r.topic, total=r.total, last_seen_at=r.last_seen_at, last_reason=r.last_reason)
        for r in rows
    ]


class ChannelView(BaseModel):
    name: str
    kind: str
    url_ref: str | None
    signed: bool
    rate_per_minute: float
    burst: int


def channels(deps: Deps) -> list[ChannelView]:
    """The configured channels, without their URLs or secrets (references only)."""
    return [
        ChannelView(
            name=name,
            kind=c.kind,
            url_ref=c.url_ref,
            signed=c.secret is not None or c.secret_ref is not None,
            rate_per_minute=c.rate_per_minute,
            burst=c.burst,
        )
        for name, c in deps.channels.items()
    ]
