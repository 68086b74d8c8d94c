"""What the alerting service calls outside itself: IM channels, the ticket system, the other services, the clock.

Real adapters live in ``alerting.adapters``; tests fake the other services at the HTTP level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from alerting.domain.alerts import Alert
from alerting.domain.inspection import Finding
from alerting.domain.webhooks import Answer


class Notifier(Protocol):
    """One IM channel. ``send`` renders the alerts (one, or a digest) in the channel's format and posts them;
    it never raises for an HTTP or network failure: the ``Answer`` says whether to retry."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    async def send(self, alerts: Sequence[Alert]) -> Answer: ...


class TicketSink(Protocol):
    """Opens a ticket for a finding and returns the ticket system's id (raises ``TransientError`` when it fails)."""

    async def open_ticket(self, finding: Finding, *, record_id: int, inspection_id: int) -> str: ...


@dataclass(frozen=True)
class TaskRef:
    id: int
    name: str
    workflow_id: int | None


@dataclass(frozen=True)
class WorkflowRef:
    id: int
    name: str
    publish_status: str
    project_code: int | None
    workflow_code: int | None


@dataclass(frozen=True)
class WorkflowStructure:
    id: int
    task_ids: tuple[int, ...]
    edges: tuple[tuple[int, int], ...]


class DefinitionClient(Protocol):
    async def unassigned_tasks(self) -> list[TaskRef]: ...

    async def workflows(self) -> list[WorkflowRef]: ...

    async def workflow_structure(self, workflow_id: int) -> WorkflowStructure: ...

    async def tasks(self, ids: Sequence[int]) -> list[TaskRef]: ...


@dataclass(frozen=True)
class DriftReport:
    workflow_id: int
    #: in_sync | drifted | missing_in_ds | unverifiable
    status: str
    differences: tuple[str, ...] = ()
    subject: dict[str, Any] = field(default_factory=dict)


class PublisherClient(Protocol):
    async def drift(self, workflow_id: int) -> DriftReport | None:
        """``None`` when the publisher never deployed the workflow."""
        ...


@dataclass(frozen=True)
class StaleWorkflow:
    workflow_id: int
    project_code: int | None
    workflow_code: int | None
    last_synced_at: datetime | None
    age_s: float
    last_error: str | None


@dataclass(frozen=True)
class StaleReport:
    threshold_s: float
    workflows: tuple[StaleWorkflow, ...]


class HistoryClient(Protocol):
    async def stale(self, cycles: int) -> StaleReport: ...
