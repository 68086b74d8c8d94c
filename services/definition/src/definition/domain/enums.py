"""Enumerations shared by the definition domain modules.

They are string enums so that they serialise to the exact strings used in the database, the HTTP API and events.
``PublishOperation`` is the event contract's enum (``common.events.PublishOperation``), re-exported here so the domain
and the events can never disagree; ``MigrationMode`` also appears in problem JSON.
"""

from __future__ import annotations

from enum import StrEnum

from common.events.models import PublishOperation

__all__ = ["MIGRATION_MODES", "MigrationMode", "PublishOperation", "WorkflowAction", "WorkflowStatus"]


class MigrationMode(StrEnum):
    """How ``reassignTask`` chooses the tasks that move with the requested one (see ``migration``)."""

    ONLY_CURRENT = "only_current"
    CASCADE_DOWNSTREAM = "cascade_downstream"
    CASCADE_UP_AND_DOWNSTREAM = "cascade_up_and_downstream"


#: All migration modes, in the order they are offered to the user.
MIGRATION_MODES: tuple[MigrationMode, ...] = tuple(MigrationMode)


class WorkflowStatus(StrEnum):
    """Platform state (``data_workflow.status``); independent of DolphinScheduler (see ``status``)."""

    DRAFT = "draft"
    READY = "ready"
    ONLINE = "online"
    OFFLINE = "offline"
    #: read-only for good: its history is kept, its tasks are free, DolphinScheduler holds it offline
    ARCHIVED = "archived"


class WorkflowAction(StrEnum):
    """User actions on the platform state (``status.transition``)."""

    APPROVE = "approve"
    ONLINE = "online"
    OFFLINE = "offline"
    ARCHIVE = "archive"
