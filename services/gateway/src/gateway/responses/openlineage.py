"""Answers of the lineage intake (``POST /api/v1/lineage``) and of the OpenLineage job ↔ task mapping: the
lineage-resolver's, passed through, except a task's job identity, which is the task's (definition's)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class LineageAccepted(BaseModel):
    """What one lineage event did."""

    event_id: str
    #: ``applied``; ``ignored`` (an event type that does not update lineage, no datasets, a DatasetEvent/JobEvent);
    #: ``unmapped`` (no rule maps the job to a task: kept, with its datasets, until a person maps it);
    #: ``duplicate`` (this RunEvent was received before)
    status: Literal["applied", "ignored", "unmapped", "duplicate"]
    #: ``openlineage`` | ``native``
    kind: str
    reason: str | None
    task_id: int | None
    job_namespace: str | None
    job_name: str | None
    #: tasks whose upstream/downstream sets changed
    changed_tasks: list[int]


class OpenLineageJobIdentity(BaseModel):
    """A task's OpenLineage job (``job.namespace`` + ``job.name``): part of the task (``openlineage_job``)."""

    task_id: int
    namespace: str
    name: str
    #: the task's revision (setting the identity alone gives the task a new one)
    task_revision: int


class AppliedPending(BaseModel):
    """A recently seen unmapped job whose pending lineage a mapping change applied."""

    namespace: str
    name: str
    task_id: int
    event_id: str
    changed_tasks: list[int]


class OpenLineageJobPattern(BaseModel):
    id: int
    #: the rules are tried in this order (after the tasks' own job identities)
    position: int
    name_regex: str
    namespace: str | None
    created_by: str
    created_at: datetime


class OpenLineageJobPatternSet(OpenLineageJobPattern):
    applied: list[AppliedPending]


class OpenLineageJobPatternPage(BaseModel):
    items: list[OpenLineageJobPattern]


class UnmappedJob(BaseModel):
    """A recently seen OpenLineage job no rule maps to a task, with the datasets of its latest run."""

    namespace: str
    name: str
    reads: list[str]
    writes: list[str]
    event_id: str
    event_time: datetime
    producer: str | None
    seen_count: int
    first_seen_at: datetime
    last_seen_at: datetime


class UnmappedJobPage(BaseModel):
    items: list[UnmappedJob]
    total: int
