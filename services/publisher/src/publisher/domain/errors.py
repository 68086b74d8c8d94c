"""Errors raised by the publisher's domain code (conversion to DolphinScheduler JSON, what is deployed).

All are ``DomainError``s: the same input fails the same way again, so they are never retried.
"""

from __future__ import annotations

from common.errors import Conflict, DomainError, ValidationFailed


class NotDeployed(Conflict):
    code = "not-deployed"
    title = "Workflow not deployed to DolphinScheduler"


def not_deployed(missing: list[int]) -> NotDeployed:
    which = ", ".join(map(str, missing))
    return NotDeployed(
        f"workflow {which} {'has' if len(missing) == 1 else 'have'} not been deployed to DolphinScheduler; "
        "publish (deploy or online) first",
        workflow_ids=missing,
    )


class UpstreamNotDeployed(Conflict):
    """A DEPENDENT link waits for a task of a workflow that DolphinScheduler does not hold (yet), or holds under
    other codes than the approved version names."""

    code = "upstream-not-deployed"
    title = "Upstream workflow not deployed"


class SubWorkflowNotDeployed(Conflict):
    """A SUB_WORKFLOW task runs a workflow that DolphinScheduler does not hold (yet): no DS code to send."""

    code = "sub-workflow-not-deployed"
    title = "Sub-workflow not deployed"


class MissingDatasources(ValidationFailed):
    """SQL tasks name datasources that DolphinScheduler does not know (no id for ``(name, type)``)."""

    code = "missing-datasources"
    title = "Unknown datasources"


class InvalidDag(ValidationFailed):
    """The edges do not form a DAG over the snapshot's tasks (unknown task, self-loop or cycle)."""

    code = "invalid-dag"
    title = "Invalid task graph"


class InvalidSchedule(ValidationFailed):
    """The schedule cannot be expressed for DolphinScheduler (unknown time zone, start not before end)."""

    code = "invalid-schedule"
    title = "Invalid schedule"


class MissingTaskCodes(DomainError):
    """``convert`` got no DS task code for some task, or a code that is not positive or used twice."""

    code = "missing-task-codes"
    title = "Missing task codes"


class IdempotencyKeyReused(ValidationFailed):
    """An ``Idempotency-Key`` sent again with another request than the one it first came with."""

    code = "idempotency-key-reused"
    title = "Idempotency key reused for another request"
