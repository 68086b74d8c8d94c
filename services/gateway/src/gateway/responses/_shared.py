"""Shapes every answer shares: the problem, the enumerations, a workflow's structure (``common.workflow``'s, as
the services send them: complete)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from common.workflow import DependentCycle

WorkflowStatus = Literal["draft", "ready", "online", "offline", "archived"]
PublishStatus = Literal["never_published", "pending", "published", "failed"]
ReleaseState = Literal["ONLINE", "OFFLINE"]
#: a part of a composed page that could not be fetched (its value is ``null``)
Unavailable = list[str]


class Problem(BaseModel):
    """An RFC 9457 problem (``application/problem+json``); an error's extras (``errors``, ``allowed_actions``,
    ``workflow_ids``, …) are further top-level members."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


# --- shapes of a workflow's structure (``common.workflow``'s, as the services send them: complete) ---------------


class Schedule(BaseModel):
    #: Quartz cron, 6 or 7 fields: second minute hour day-of-month month day-of-week [year]
    crontab: str
    timezone: str
    start_time: datetime
    end_time: datetime


class GlobalParam(BaseModel):
    name: str
    value: str
    direction: Literal["IN", "OUT"]
    #: DolphinScheduler's data type (``VARCHAR``, ``INTEGER``, …)
    type: str


class ExternalDependency(BaseModel):
    """A lineage dependency on a task of another workflow, kept as a DolphinScheduler DEPENDENT task: ``task_ids``
    (of this workflow) wait until ``upstream_task_id`` of workflow ``upstream_workflow_id`` succeeded in the period
    ``cycle``/``date_value``. The codes are ``null`` while the upstream was not deployed when the version was
    written."""

    upstream_workflow_id: int
    upstream_task_id: int
    task_ids: list[int]
    cycle: DependentCycle
    date_value: str
    upstream_project_code: int | None = None
    upstream_workflow_code: int | None = None
    upstream_workflow_name: str = ""
    upstream_task_name: str = ""
