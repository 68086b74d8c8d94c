"""The daily consistency inspection (seed §8): what counts as a finding, and the ticket lifecycle.

Checks and their findings (each with a stable key, so the same problem found on two runs is the same finding):

- ``orphan_task``          a task in no workflow                              ``orphan-task:{task_id}``
- ``dangling_relation``    a workflow's relation or edge names a task that does not exist, or that the task
                           table says belongs elsewhere                       ``dangling-relation:{wf}:{task_id}``
- ``drift``                the workflow in DolphinScheduler differs from its last deployed definition, or is gone
                                                                              ``drift:{workflow_id}``
- ``stale_sync``           history-sync has not synced a tracked workflow for N cycles
                                                                              ``stale-sync:{workflow_id}``

Ticket lifecycle: a finding without an open ticket opens one; while it keeps being found nothing new is opened; when
a run no longer finds it the ticket record is closed; if it comes back later, a new ticket is opened. A check that
could not run (an upstream was down) proves nothing: open tickets of that check, or of a subject the check could not
look at, stay open.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo


class FindingKind(StrEnum):
    ORPHAN_TASK = "orphan_task"
    DANGLING_RELATION = "dangling_relation"
    DRIFT = "drift"
    STALE_SYNC = "stale_sync"


@dataclass(frozen=True)
class Finding:
    key: str
    kind: FindingKind
    summary: str
    subject: Mapping[str, Any] = field(default_factory=dict)
    workflow_id: int | None = None


def orphan_task(task_id: int, name: str) -> Finding:
    return Finding(
        key=f"orphan-task:{task_id}",
        kind=FindingKind.ORPHAN_TASK,
        summary=f"task {task_id} ({name}) belongs to no workflow",
        subject={"task_id": task_id, "task_name": name},
    )


def dangling_relation(workflow_id: int, task_id: int, reason: str, owner: int | None = None) -> Finding:
    texts = {
        "task_missing": f"workflow {workflow_id} has a relation to task {task_id}, which does not exist",
        "edge_endpoint_missing": f"an edge of workflow {workflow_id} names task {task_id}, which is not in it",
        "owner_mismatch": f"workflow {workflow_id} lists task {task_id}, which belongs to workflow {owner}",
    }
    subject: dict[str, Any] = {"workflow_id": workflow_id, "task_id": task_id, "reason": reason}
    if owner is not None:
        subject["owner_workflow_id"] = owner
    return Finding(
        key=f"dangling-relation:{workflow_id}:{task_id}",
        kind=FindingKind.DANGLING_RELATION,
        summary=texts[reason],
        subject=subject,
        workflow_id=workflow_id,
    )


def drift(workflow_id: int, status: str, differences: Sequence[str], subject: Mapping[str, Any]) -> Finding:
    what = "no longer exists in DolphinScheduler" if status == "missing_in_ds" else "differs in DolphinScheduler"
    summary = f"workflow {workflow_id} {what} from its last deployed definition"
    if differences:
        summary += ": " + "; ".join(differences[:5])
    return Finding(
        key=f"drift:{workflow_id}",
        kind=FindingKind.DRIFT,
        summary=summary,
        subject={"workflow_id": workflow_id, **subject, "status": status, "differences": list(differences)},
        workflow_id=workflow_id,
    )


def stale_sync(workflow_id: int, last_synced_at: str | None, age_s: float, last_error: str | None) -> Finding:
    since = f"since {last_synced_at}" if last_synced_at else "ever"
    return Finding(
        key=f"stale-sync:{workflow_id}",
        kind=FindingKind.STALE_SYNC,
        summary=f"execution history of workflow {workflow_id} has not synced {since} ({round(age_s / 60)} min)",
        subject={
            "workflow_id": workflow_id,
            "last_synced_at": last_synced_at,
            "age_s": round(age_s),
            "last_error": last_error,
        },
        workflow_id=workflow_id,
    )


def dangling_relations(
    workflow_id: int,
    task_ids: Iterable[int],
    edges: Iterable[tuple[int, int]],
    owners: Mapping[int, int | None],
) -> list[Finding]:
    """Findings of one workflow: ``task_ids`` it lists, its ``edges``, and ``owners`` = what the task table says
    about each listed task (absent: the task does not exist; ``None``: unassigned)."""
    listed = set(task_ids)
    out: dict[int, Finding] = {}
    for tid in sorted(listed):
        if tid not in owners:
            out[tid] = dangling_relation(workflow_id, tid, "task_missing")
        elif owners[tid] != workflow_id:
            out[tid] = dangling_relation(workflow_id, tid, "owner_mismatch", owners[tid])
    for up, down in edges:
        for tid in (up, down):
            if tid not in listed and tid not in out:
                out[tid] = dangling_relation(workflow_id, tid, "edge_endpoint_missing")
    return [out[k] for k in sorted(out)]


@dataclass(frozen=True)
class OpenTicket:
    id: int
    finding_key: str
    kind: FindingKind


@dataclass(frozen=True)
class TicketPlan:
    to_open: tuple[Finding, ...]
    to_close: tuple[OpenTicket, ...]
    still_open: tuple[tuple[Finding, OpenTicket], ...]


def plan_tickets(
    findings: Iterable[Finding],
    open_tickets: Iterable[OpenTicket],
    *,
    completed_kinds: Iterable[FindingKind],
    inconclusive_keys: Iterable[str] = (),
) -> TicketPlan:
    """Diff this run's findings against the open tickets.

    ``completed_kinds``: checks that ran to the end (only their absent findings close tickets);
    ``inconclusive_keys``: finding keys a completed check could not decide (e.g. one workflow's drift check failed).
    """
    found: dict[str, Finding] = {}
    for f in findings:
        found.setdefault(f.key, f)
    done = set(completed_kinds)
    keep = set(inconclusive_keys)
    by_key = {t.finding_key: t for t in open_tickets}
    to_open = tuple(f for k, f in sorted(found.items()) if k not in by_key)
    still = tuple((found[k], t) for k, t in sorted(by_key.items()) if k in found)
    to_close = tuple(t for k, t in sorted(by_key.items()) if k not in found and t.kind in done and k not in keep)
    return TicketPlan(to_open, to_close, still)


def latest_slot(now: datetime, at: tuple[int, int], zone: str) -> datetime:
    """The most recent daily run instant at or before ``now`` (``at`` = local hour and minute in ``zone``)."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    slot = datetime.combine(local.date(), time(at[0], at[1]), tzinfo=tz)
    if slot > local:
        slot = datetime.combine(local.date() - timedelta(days=1), time(at[0], at[1]), tzinfo=tz)
    return slot.astimezone(now.tzinfo)


def next_slot(now: datetime, at: tuple[int, int], zone: str) -> datetime:
    last = latest_slot(now, at, zone)
    tz = ZoneInfo(zone)
    local = last.astimezone(tz)
    nxt = datetime.combine(local.date() + timedelta(days=1), time(at[0], at[1]), tzinfo=tz)
    return nxt.astimezone(now.tzinfo)
