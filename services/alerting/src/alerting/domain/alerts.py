"""What an alert is, and the incident it belongs to.

An *incident* is the thing a human should hear about once: one failed publish record, one execution failure incident
of history-sync (its ``incident_key``), the dead letters of one topic within one window, one workflow whose sync
stopped at a given point. Every input is mapped to an ``Alert`` whose ``incident_key`` names that incident; the
store keeps one row per incident key and one delivery per (incident, channel), so the same event twice, two events
of the same incident, or several replicas seeing the same condition all end in one message per channel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from common.events.models import FailureRule, PublishCompleted, WorkflowExecutionFailed

#: cut long texts (DS error messages, DLQ reasons) so one alert cannot blow up a message
MAX_TEXT = 500


class AlertKind(StrEnum):
    PUBLISH_FAILED = "publish_failed"
    EXECUTION_FAILED = "execution_failed"
    EXECUTION_STREAK = "execution_streak"
    EXECUTION_RATE = "execution_rate"
    DEAD_LETTERS = "dead_letters"
    HISTORY_STALE = "history_stale"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


SEVERITY: dict[AlertKind, Severity] = {
    AlertKind.PUBLISH_FAILED: Severity.WARNING,
    AlertKind.EXECUTION_FAILED: Severity.INFO,
    AlertKind.EXECUTION_STREAK: Severity.WARNING,
    AlertKind.EXECUTION_RATE: Severity.WARNING,
    AlertKind.DEAD_LETTERS: Severity.WARNING,
    AlertKind.HISTORY_STALE: Severity.WARNING,
}


@dataclass(frozen=True)
class Alert:
    incident_key: str
    kind: AlertKind
    occurred_at: datetime
    workflow_id: int | None = None
    project_code: int | None = None
    workflow_code: int | None = None
    #: kind-specific facts, JSON-serialisable (rendered by ``domain.render``)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> Severity:
        if self.kind is AlertKind.PUBLISH_FAILED and self.facts.get("diverged"):
            return Severity.CRITICAL  # DS was left other than intended: schedules and runs may have stopped
        return SEVERITY[self.kind]

    def to_json(self) -> dict[str, Any]:
        return {
            "incident_key": self.incident_key,
            "kind": self.kind.value,
            "severity": self.severity.value,
            "occurred_at": self.occurred_at.isoformat(),
            "workflow_id": self.workflow_id,
            "project_code": self.project_code,
            "workflow_code": self.workflow_code,
            "facts": self.facts,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Alert:
        return cls(
            incident_key=raw["incident_key"],
            kind=AlertKind(raw["kind"]),
            occurred_at=datetime.fromisoformat(raw["occurred_at"]),
            workflow_id=raw.get("workflow_id"),
            project_code=raw.get("project_code"),
            workflow_code=raw.get("workflow_code"),
            facts=dict(raw.get("facts") or {}),
        )


def clip(text: str | None, limit: int = MAX_TEXT) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def publish_failed(event: PublishCompleted) -> Alert:
    """One incident per failed publish record (a retry is a new record, so a new incident)."""
    return Alert(
        incident_key=f"publish-failed:{event.record_id}",
        kind=AlertKind.PUBLISH_FAILED,
        occurred_at=event.completed_at,
        workflow_id=event.workflow_id,
        project_code=event.project_code,
        workflow_code=event.engine_workflow_code,
        facts={
            "record_id": event.record_id,
            "operation": event.operation.value,
            "operator": event.operator,
            "error_code": event.error_code,
            "error_message": clip(event.error_message),
            # what DS holds after the failure, read back, and what the publish intended
            "release_state": event.release_state,
            "intended_release_state": event.intended_release_state,
            "diverged": event.diverged,
        },
    )


_RULE_KIND = {
    FailureRule.FAILURE: AlertKind.EXECUTION_FAILED,
    FailureRule.STREAK: AlertKind.EXECUTION_STREAK,
    FailureRule.RATE: AlertKind.EXECUTION_RATE,
}


def execution_failed(event: WorkflowExecutionFailed) -> Alert:
    """history-sync names the incident (``incident_key``): a failed instance, or an open streak / rate incident."""
    return Alert(
        incident_key=f"execution:{event.incident_key}",
        kind=_RULE_KIND[event.rule],
        occurred_at=event.occurred_at,
        workflow_id=event.workflow_id,
        project_code=event.project_code,
        workflow_code=event.engine_workflow_code,
        facts={"instance_id": event.instance_id, "state": event.state, "details": dict(event.details)},
    )


def dlq_window(at: datetime, window_s: int) -> datetime:
    """Start of the window ``at`` falls in (windows are aligned to the epoch, so every replica agrees)."""
    start = math.floor(at.timestamp() / window_s) * window_s
    return datetime.fromtimestamp(start, tz=UTC)


def dead_letters(
    topic: str, *, at: datetime, window_s: int, reason: str | None, consumer: str | None, error_type: str | None
) -> Alert:
    """Dead letters of ``topic`` (the original topic, without ``.dlq``): one incident per topic per window."""
    window = dlq_window(at, window_s)
    return Alert(
        incident_key=f"dlq:{topic}:{window.strftime('%Y%m%dT%H%M')}",
        kind=AlertKind.DEAD_LETTERS,
        occurred_at=at,
        facts={
            "topic": topic,
            "window_start": window.isoformat(),
            "window_s": window_s,
            "reason": clip(reason),
            "consumer": consumer,
            "error_type": error_type,
        },
    )


def history_stale(
    *,
    workflow_id: int,
    project_code: int | None,
    workflow_code: int | None,
    last_synced_at: datetime | None,
    age_s: float,
    threshold_s: float,
    last_error: str | None,
    now: datetime,
) -> Alert:
    """A workflow whose last successful sync is too old. The incident is "stuck since ``last_synced_at``": it
    stays the same while the workflow stays stuck and a new one starts after it synced again."""
    since = last_synced_at.isoformat() if last_synced_at is not None else "never"
    return Alert(
        incident_key=f"history-stale:{workflow_id}:{since}",
        kind=AlertKind.HISTORY_STALE,
        occurred_at=now,
        workflow_id=workflow_id,
        project_code=project_code,
        workflow_code=workflow_code,
        facts={
            "last_synced_at": None if last_synced_at is None else last_synced_at.isoformat(),
            "age_s": round(age_s),
            "threshold_s": round(threshold_s),
            "last_error": clip(last_error),
        },
    )
