"""What the publisher's use-case groups share: metrics, the target engine and the errors of a publish."""

from __future__ import annotations

from typing import TypeVar

from prometheus_client import Counter

from common.errors import Conflict, DomainError

T = TypeVar("T")

PUBLISHES = Counter("publish_records_total", "Finished publish records", ["operation", "status"])
PUBLISH_REFUSED = Counter(
    "publish_refused_total",
    "Publishes refused before any DolphinScheduler call: no valid approval, or not the approved snapshot",
    ["operation", "reason"],
)

TARGET_ENGINE = "dolphinscheduler"


class ReadBackMismatch(DomainError):
    """DS accepted a call but reading the workflow back does not show what was sent."""

    code = "ds-read-back-mismatch"
    title = "DolphinScheduler state does not match the publish"


class DsNameTaken(Conflict):
    """A first deploy under a name another platform workflow's DS workflow has (its name before a rename): the
    gateway's upsert by name would take that workflow over; DS itself refuses a second one of a name (10168)."""

    code = "ds-workflow-name-taken"
    title = "Another workflow's DolphinScheduler workflow has this name"


class ProjectMissing(DomainError):
    code = "ds-project-missing"
    title = "DolphinScheduler project missing"
