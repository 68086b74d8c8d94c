"""Every query of the alerting service. Functions take the caller's session; they flush, never commit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from alerting.db.tables import (
    alert,
    alert_delivery,
    channel_bucket,
    dead_letter_count,
    inspection_finding,
    inspection_run,
    inspection_ticket,
)
from alerting.domain.alerts import Alert
from alerting.domain.inspection import Finding, FindingKind, OpenTicket
from alerting.domain.ratelimit import Bucket

#: serialises ticket bookkeeping of concurrent inspection runs (any replica)
INSPECTION_LOCK = 0x41_4C_45_52_54  # "ALERT"

# --- alerts and deliveries --------------------------------------------------------------------------------------


async def upsert_alert(session: AsyncSession, a: Alert) -> tuple[int, bool]:
    """(alert id, whether this call created the incident)."""
    ins = pg_insert(alert).values(
        incident_key=a.incident_key,
        kind=a.kind.value,
        severity=a.severity.value,
        workflow_id=a.workflow_id,
        payload=a.to_json(),
    )
    stmt = ins.on_conflict_do_update(
        index_elements=[alert.c.incident_key],
        set_={"occurrences": alert.c.occurrences + 1, "last_seen_at": func.now()},
    ).returning(alert.c.id, text("(xmax = 0) AS inserted"))
    row = (await session.execute(stmt)).one()
    return int(row.id), bool(row.inserted)


async def add_deliveries(session: AsyncSession, alert_id: int, channels: Iterable[str], at: datetime) -> None:
    rows = [{"alert_id": alert_id, "channel": c, "next_attempt_at": at} for c in channels]
    if rows:
        await session.execute(pg_insert(alert_delivery).values(rows).on_conflict_do_nothing())


async def count_dead_letter(session: AsyncSession, topic: str, at: datetime, reason: str | None) -> int:
    ins = pg_insert(dead_letter_count).values(topic=topic, total=1, last_seen_at=at, last_reason=reason)
    stmt = ins.on_conflict_do_update(
        index_elements=[dead_letter_count.c.topic],
        set_={"total": dead_letter_count.c.total + 1, "last_seen_at": at, "last_reason": reason},
    ).returning(dead_letter_count.c.total)
    return int((await session.execute(stmt)).scalar_one())


async def dead_letter_counts(session: AsyncSession) -> list[Row[Any]]:
    return list((await session.execute(select(dead_letter_count).order_by(dead_letter_count.c.topic))).all())


async def lock_bucket(session: AsyncSession, channel: str, *, burst: int, now: datetime) -> Bucket:
    await session.execute(
        pg_insert(channel_bucket).values(channel=channel, tokens=float(burst), updated_at=now).on_conflict_do_nothing()
    )
    row = (
        await session.execute(select(channel_bucket).where(channel_bucket.c.channel == channel).with_for_update())
    ).one()
    return Bucket(float(row.tokens), row.updated_at)


async def save_bucket(session: AsyncSession, channel: str, b: Bucket) -> None:
    await session.execute(
        update(channel_bucket)
        .where(channel_bucket.c.channel == channel)
        .values(tokens=b.tokens, updated_at=b.updated_at)
    )


def _due(channel: str, now: datetime) -> Any:
    return and_(
        alert_delivery.c.channel == channel,
        alert_delivery.c.status == "pending",
        alert_delivery.c.next_attempt_at <= now,
        or_(alert_delivery.c.lease_until.is_(None), alert_delivery.c.lease_until < now),
    )


async def count_due(session: AsyncSession, channel: str, now: datetime) -> int:
    stmt = select(func.count()).select_from(alert_delivery).where(_due(channel, now))
    return int((await session.execute(stmt)).scalar_one())


async def claim_due(
    session: AsyncSession, channel: str, now: datetime, *, limit: int, lease_until: datetime, message_id: str
) -> list[Any]:
    """Lease the oldest due deliveries of ``channel``; returns (delivery id, attempts, alert payload)."""
    ids = (
        (
            await session.execute(
                select(alert_delivery.c.id)
                .where(_due(channel, now))
                .order_by(alert_delivery.c.next_attempt_at, alert_delivery.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    if not ids:
        return []
    await session.execute(
        update(alert_delivery)
        .where(alert_delivery.c.id.in_(ids))
        .values(lease_until=lease_until, attempts=alert_delivery.c.attempts + 1, message_id=message_id)
    )
    stmt = (
        select(alert_delivery.c.id, alert_delivery.c.attempts, alert.c.payload)
        .join(alert, alert.c.id == alert_delivery.c.alert_id)
        .where(alert_delivery.c.id.in_(ids))
        .order_by(alert_delivery.c.next_attempt_at, alert_delivery.c.id)
    )
    return list((await session.execute(stmt)).all())


async def mark_sent(session: AsyncSession, ids: Sequence[int], at: datetime) -> None:
    await session.execute(
        update(alert_delivery)
        .where(alert_delivery.c.id.in_(ids))
        .values(status="sent", sent_at=at, lease_until=None, last_error=None)
    )


async def reschedule(session: AsyncSession, delivery_id: int, at: datetime, error: str) -> None:
    await session.execute(
        update(alert_delivery)
        .where(alert_delivery.c.id == delivery_id)
        .values(next_attempt_at=at, lease_until=None, last_error=error)
    )


async def mark_failed(session: AsyncSession, ids: Sequence[int], error: str) -> None:
    await session.execute(
        update(alert_delivery)
        .where(alert_delivery.c.id.in_(ids))
        .values(status="failed", lease_until=None, last_error=error)
    )


async def list_alerts(
    session: AsyncSession, *, limit: int, offset: int, kind: str | None
) -> tuple[list[Row[Any]], int]:
    where = [] if kind is None else [alert.c.kind == kind]
    total = int((await session.execute(select(func.count()).select_from(alert).where(*where))).scalar_one())
    rows = (
        await session.execute(
            select(alert)
            .where(*where)
            .order_by(alert.c.first_seen_at.desc(), alert.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return list(rows), total


async def deliveries_of(session: AsyncSession, alert_ids: Sequence[int]) -> dict[int, list[Row[Any]]]:
    if not alert_ids:
        return {}
    rows = (
        await session.execute(
            select(alert_delivery).where(alert_delivery.c.alert_id.in_(alert_ids)).order_by(alert_delivery.c.channel)
        )
    ).all()
    out: dict[int, list[Row[Any]]] = {}
    for r in rows:
        out.setdefault(int(r.alert_id), []).append(r)
    return out


# --- inspections -------------------------------------------------------------------------------------------------


async def create_run(session: AsyncSession, trigger: str, scheduled_for: date | None) -> int | None:
    """A new run; ``None`` when the scheduled slot was already taken (by this or another replica)."""
    stmt = pg_insert(inspection_run).values(trigger=trigger, scheduled_for=scheduled_for)
    if scheduled_for is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=[inspection_run.c.scheduled_for])
    row = (await session.execute(stmt.returning(inspection_run.c.id))).first()
    return None if row is None else int(row.id)


async def finish_run(
    session: AsyncSession, run_id: int, *, status: str, checks: Mapping[str, str], summary: Mapping[str, Any]
) -> None:
    await session.execute(
        update(inspection_run)
        .where(inspection_run.c.id == run_id)
        .values(status=status, checks=dict(checks), summary=dict(summary), finished_at=func.now())
    )


async def lock_inspections(session: AsyncSession) -> None:
    await session.execute(select(func.pg_advisory_xact_lock(INSPECTION_LOCK)))


async def open_tickets(session: AsyncSession) -> list[OpenTicket]:
    rows = (
        await session.execute(
            select(inspection_ticket.c.id, inspection_ticket.c.finding_key, inspection_ticket.c.kind).where(
                inspection_ticket.c.status == "open"
            )
        )
    ).all()
    return [OpenTicket(int(r.id), r.finding_key, FindingKind(r.kind)) for r in rows]


async def insert_ticket(session: AsyncSession, f: Finding, run_id: int) -> int:
    stmt = (
        insert(inspection_ticket)
        .values(
            finding_key=f.key,
            kind=f.kind.value,
            summary=f.summary,
            subject=dict(f.subject),
            opened_run_id=run_id,
            last_seen_run_id=run_id,
        )
        .returning(inspection_ticket.c.id)
    )
    return int((await session.execute(stmt)).scalar_one())


async def touch_tickets(session: AsyncSession, ids: Sequence[int], run_id: int) -> None:
    if ids:
        await session.execute(
            update(inspection_ticket).where(inspection_ticket.c.id.in_(ids)).values(last_seen_run_id=run_id)
        )


async def close_tickets(session: AsyncSession, ids: Sequence[int], run_id: int) -> None:
    if ids:
        await session.execute(
            update(inspection_ticket)
            .where(inspection_ticket.c.id.in_(ids))
            .values(status="closed", closed_run_id=run_id, closed_at=func.now(), lease_until=None)
        )


async def insert_findings(
    session: AsyncSession, run_id: int, findings: Sequence[Finding], tickets: Mapping[str, int]
) -> None:
    if not findings:
        return
    await session.execute(
        insert(inspection_finding),
        [
            {
                "run_id": run_id,
                "finding_key": f.key,
                "kind": f.kind.value,
                "summary": f.summary,
                "subject": dict(f.subject),
                "workflow_id": f.workflow_id,
                "ticket_record_id": tickets.get(f.key),
            }
            for f in findings
        ],
    )


async def claim_unticketed(session: AsyncSession, now: datetime, lease_until: datetime) -> list[Row[Any]]:
    """Open ticket records the ticket system has not confirmed yet, leased to this caller."""
    stmt = (
        update(inspection_ticket)
        .where(
            inspection_ticket.c.status == "open",
            inspection_ticket.c.ticket_id.is_(None),
            or_(inspection_ticket.c.lease_until.is_(None), inspection_ticket.c.lease_until < now),
        )
        .values(lease_until=lease_until, ticket_attempts=inspection_ticket.c.ticket_attempts + 1)
        .returning(
            inspection_ticket.c.id,
            inspection_ticket.c.finding_key,
            inspection_ticket.c.kind,
            inspection_ticket.c.summary,
            inspection_ticket.c.subject,
            inspection_ticket.c.opened_run_id,
        )
    )
    return list((await session.execute(stmt)).all())


async def set_ticket_result(session: AsyncSession, record_id: int, *, ticket_id: str | None, error: str | None) -> None:
    await session.execute(
        update(inspection_ticket)
        .where(inspection_ticket.c.id == record_id)
        .values(ticket_id=ticket_id, ticket_error=error, lease_until=None)
    )


async def run_by_id(session: AsyncSession, run_id: int) -> Row[Any] | None:
    return (await session.execute(select(inspection_run).where(inspection_run.c.id == run_id))).first()


async def latest_run(session: AsyncSession) -> Row[Any] | None:
    stmt = (
        select(inspection_run)
        .where(inspection_run.c.status != "running")
        .order_by(inspection_run.c.started_at.desc(), inspection_run.c.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).first()


async def findings_of(session: AsyncSession, run_id: int) -> list[Row[Any]]:
    stmt = (
        select(
            inspection_finding,
            inspection_ticket.c.ticket_id,
            inspection_ticket.c.status.label("ticket_status"),
            inspection_ticket.c.opened_at.label("ticket_opened_at"),
            inspection_ticket.c.ticket_error,
        )
        .outerjoin(inspection_ticket, inspection_ticket.c.id == inspection_finding.c.ticket_record_id)
        .where(inspection_finding.c.run_id == run_id)
        .order_by(inspection_finding.c.kind, inspection_finding.c.finding_key)
    )
    return list((await session.execute(stmt)).all())


async def tickets_closed_by(session: AsyncSession, run_id: int) -> list[Row[Any]]:
    stmt = select(inspection_ticket).where(inspection_ticket.c.closed_run_id == run_id).order_by(inspection_ticket.c.id)
    return list((await session.execute(stmt)).all())
