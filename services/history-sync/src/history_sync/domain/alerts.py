"""Failure alerts: one per failed instance, and one per incident for the streak and rate rules.

- ``failure``: every instance newly seen (or newly turned) FAILURE; the key includes the run count, so a rerun that
  fails again is a new alert, the same failure seen twice is not.
- ``streak``: ``threshold`` FAILUREs in a row among the newest finished instances. STOP and PAUSE are neutral (a
  person stopped the run); a SUCCESS breaks the streak and ends the incident.
- ``rate``: failures / finished over the newest ``window`` finished instances above ``threshold`` (with at least
  ``min_finished`` of them). The incident ends when the rate is no longer above the threshold.
While an incident is open its rule stays silent (deduplicated on the stable ``incident_key``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from history_sync.domain.executions import Execution

FAILURE = "failure"
STREAK = "streak"
RATE = "rate"


@dataclass(frozen=True)
class AlertPolicy:
    streak_threshold: int = 3
    rate_window: int = 10
    rate_threshold: float = 0.5
    rate_min_finished: int = 5

    def __post_init__(self) -> None:
        if not 1 <= self.streak_threshold <= 10:
            raise ValueError("streak_threshold must be within 1..10 (the cache holds 10 executions)")
        if not 1 <= self.rate_min_finished <= self.rate_window <= 10:
            raise ValueError("need 1 <= rate_min_finished <= rate_window <= 10")
        if not 0.0 <= self.rate_threshold < 1.0:
            raise ValueError("rate_threshold must be within [0, 1)")


@dataclass(frozen=True)
class OpenIncidents:
    """The incident keys currently open for one workflow."""

    streak: str | None = None
    rate: str | None = None


@dataclass(frozen=True)
class Alert:
    rule: str
    incident_key: str
    instance_id: int | None
    state: str | None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertDecision:
    alerts: tuple[Alert, ...]
    incidents: OpenIncidents
    #: (rule, key) of incidents opened and closed by this evaluation
    opened: tuple[tuple[str, str], ...] = ()
    closed: tuple[tuple[str, str], ...] = ()


def failure_key(workflow_id: int, e: Execution) -> str:
    return f"wf{workflow_id}:failure:{e.instance_id}:{e.run_times or 1}"


def current_streak(executions: Sequence[Execution]) -> tuple[list[Execution], bool]:
    """The FAILUREs in a row from the newest finished instance, and whether a SUCCESS ended the count."""
    streak: list[Execution] = []
    for e in executions:
        if not e.finished:
            continue
        if e.failed:
            streak.append(e)
        elif e.succeeded:
            return streak, True
    return streak, False


def failure_rate(executions: Sequence[Execution], window: int) -> tuple[int, int]:
    """(failures, finished) over the newest ``window`` finished instances."""
    finished = [e for e in executions if e.finished][:window]
    return sum(1 for e in finished if e.failed), len(finished)


def evaluate(
    workflow_id: int,
    executions: Sequence[Execution],
    new_failures: Sequence[Execution],
    incidents: OpenIncidents,
    policy: AlertPolicy,
) -> AlertDecision:
    """Alerts to emit and incident state after a sync (``executions`` newest first)."""
    alerts: list[Alert] = [
        Alert(
            FAILURE,
            failure_key(workflow_id, e),
            e.instance_id,
            e.state,
            {"run_times": e.run_times, "end_time": e.end_time.isoformat() if e.end_time else None},
        )
        for e in new_failures
    ]
    opened: list[tuple[str, str]] = []
    closed: list[tuple[str, str]] = []
    state = incidents

    streak, broken = current_streak(executions)
    if state.streak is None and len(streak) >= policy.streak_threshold:
        key = f"wf{workflow_id}:streak:{streak[-1].instance_id}"
        alerts.append(
            Alert(
                STREAK,
                key,
                streak[0].instance_id,
                streak[0].state,
                {
                    "streak": len(streak),
                    "threshold": policy.streak_threshold,
                    "instance_ids": [e.instance_id for e in streak],
                },
            )
        )
        state = replace(state, streak=key)
        opened.append((STREAK, key))
    elif state.streak is not None and broken and not streak:
        closed.append((STREAK, state.streak))
        state = replace(state, streak=None)

    failures, finished = failure_rate(executions, policy.rate_window)
    if finished >= policy.rate_min_finished:
        rate = failures / finished
        if state.rate is None and rate > policy.rate_threshold:
            newest = next(e for e in executions if e.finished)
            key = f"wf{workflow_id}:rate:{newest.instance_id}"
            alerts.append(
                Alert(
                    RATE,
                    key,
                    newest.instance_id,
                    newest.state,
                    {
                        "failures": failures,
                        "window": finished,
                        "rate": round(rate, 4),
                        "threshold": policy.rate_threshold,
                    },
                )
            )
            state = replace(state, rate=key)
            opened.append((RATE, key))
        elif state.rate is not None and rate <= policy.rate_threshold:
            closed.append((RATE, state.rate))
            state = replace(state, rate=None)
    return AlertDecision(tuple(alerts), state, tuple(opened), tuple(closed))
