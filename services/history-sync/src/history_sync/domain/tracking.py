"""Which workflows are synced: state learned from ``publish.completed``, and the sync cycle arithmetic."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

ONLINE = "ONLINE"
OFFLINE = "OFFLINE"


@dataclass(frozen=True)
class Tracking:
    workflow_id: int
    engine_workflow_code: int
    project_code: int
    release_state: str
    online_since: datetime | None
    offline_at: datetime | None
    last_publish_at: datetime


@dataclass(frozen=True)
class PublishFacts:
    """What a successful ``publish.completed`` says about DS."""

    workflow_id: int
    operation: str
    engine_workflow_code: int | None
    project_code: int | None
    release_state: str | None
    completed_at: datetime


def apply_publish(current: Tracking | None, facts: PublishFacts) -> Tracking | None:
    """The tracking row after a successful publish; ``None`` when there is nothing to track (yet).

    Events older than the last applied one (by ``completed_at``) do not change the release state.
    Without an explicit release state, ``online``/``offline`` say it; a ``deploy`` keeps the current one (a new
    workflow is created OFFLINE).
    """
    code = facts.engine_workflow_code or (current.engine_workflow_code if current else None)
    project = facts.project_code or (current.project_code if current else None)
    if code is None or project is None:
        return current
    if current is not None and facts.completed_at < current.last_publish_at:
        return replace(current, engine_workflow_code=code, project_code=project)
    state = facts.release_state or {"online": ONLINE, "offline": OFFLINE}.get(facts.operation)
    if state is None:
        state = current.release_state if current else OFFLINE
    was_online = current is not None and current.release_state == ONLINE
    online_since = current.online_since if current else None
    offline_at = current.offline_at if current else None
    if state == ONLINE:
        if not was_online:
            online_since = facts.completed_at
        offline_at = None
    elif was_online:
        offline_at = facts.completed_at
    return Tracking(facts.workflow_id, code, project, state, online_since, offline_at, facts.completed_at)


def is_synced(t: Tracking, now: datetime, offline_grace: timedelta) -> bool:
    """Synced while online in DS, or within ``offline_grace`` after it went offline."""
    if t.release_state == ONLINE:
        return True
    return t.offline_at is not None and t.offline_at > now - offline_grace


def cycle_of(when: datetime, interval_s: float) -> int:
    """Number of the sync cycle ``when`` falls in (cycles start at multiples of the interval since the epoch)."""
    return math.floor(when.timestamp() / interval_s)


def next_cycle_start(when: datetime, interval_s: float) -> datetime:
    return datetime.fromtimestamp((cycle_of(when, interval_s) + 1) * interval_s, tz=UTC)
