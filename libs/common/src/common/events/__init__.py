"""Event contracts shared by every service: envelope, payload models, registry and schema checks."""

from common.events.base import Event, Part
from common.events.envelope import CONTENT_TYPE, Envelope
from common.events.models import (
    DependencyCycle,
    DeployedTaskCode,
    ExecutionSummary,
    ExecutionSynced,
    FailureRule,
    LineageChanged,
    PublishCompleted,
    PublishOperation,
    PublishOutcome,
    PublishRequested,
    TableEdge,
    TaskDependencyChanged,
    Topics,
    TriggerSource,
    WorkflowExecutionFailed,
    WorkflowRunStarted,
    WorkflowVersionCreated,
)
from common.events.registry import ALL_EVENTS, EncodedEvent, EventRegistry, registry

__all__ = [
    "ALL_EVENTS",
    "CONTENT_TYPE",
    "DependencyCycle",
    "DeployedTaskCode",
    "EncodedEvent",
    "Envelope",
    "Event",
    "EventRegistry",
    "ExecutionSummary",
    "ExecutionSynced",
    "FailureRule",
    "LineageChanged",
    "Part",
    "PublishCompleted",
    "PublishOperation",
    "PublishOutcome",
    "PublishRequested",
    "TableEdge",
    "TaskDependencyChanged",
    "Topics",
    "TriggerSource",
    "WorkflowExecutionFailed",
    "WorkflowRunStarted",
    "WorkflowVersionCreated",
    "registry",
]
