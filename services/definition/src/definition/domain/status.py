"""Platform state machine and publish pre-checks.

The platform state (``data_workflow.status``) is decoupled from DolphinScheduler: changing it never calls DS, and
publishing (``deploy`` | ``online`` | ``offline``) never changes it.

Status model (decision)
-----------------------
We track approval per version with one new column, ``data_workflow.approved_version_id`` (the last version an
approver accepted). "The current version is approved" means ``approved_version_id == current_version_id``.

============  ==========================  ===============================================================
status        new version (any edit)      actions
============  ==========================  ===============================================================
``draft``     stays ``draft``             ``approve`` → ``ready`` (approves the current version)
``ready``     back to ``draft``           ``online`` → ``online``
``online``    stays ``online``;           ``offline`` → ``offline``; ``approve`` (status unchanged) when the
              needs approval again        current version is not approved yet
``offline``   stays ``offline``;          ``online`` → ``online``; ``approve`` (status unchanged) as above
              needs approval again
``archived``  (none: read-only)           none
============  ==========================  ===============================================================

``archive`` is allowed in every other status: the workflow keeps its versions and publish history, its tasks are
released, and (the service's part) DolphinScheduler is asked to take it offline.

Why: ``ready`` *means* "approved and waiting", so any new version voids it. An ``online``/``offline`` workflow has
a running (or paused) definition in DS that was approved before; demoting it to ``draft`` would misreport what runs.
It keeps its status, and the pending version simply cannot reach DS until approved. Rollback is a new version like
any other (it needs approval too). Invalid transitions raise ``InvalidTransition`` naming the allowed actions.

Publish rules (``check_publish``)
---------------------------------
* ``deploy`` (definition to DS, no release) and ``online`` (deploy + release ONLINE): the current version must be
  approved — nothing unapproved reaches DS — and the status must be ``ready`` or ``online`` (``draft`` is not
  approved; platform ``offline`` forbids new runs, so it cannot be put online in DS; deploy in ``offline`` is allowed
  so the definition can be prepared before the platform goes online again). Both pin ``current_version_id``.
* ``offline`` (release OFFLINE): allowed in every status, approval or not, as long as the workflow exists in DS
  (``workflow_code`` set); taking something out of production is never blocked. It pins
  ``last_published_version_id`` (what DS has), not the pending version.

Public API
----------
``WorkflowState`` (frozen model), ``initial_state(version_id)``, ``allowed_actions(state)``,
``transition(state, action)``, ``record_new_version(state, version_id)``, ``allowed_publish_operations(state)``,
``check_publish(state, operation) -> PublishDecision``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from definition.domain.enums import PublishOperation, WorkflowAction, WorkflowStatus
from definition.domain.errors import InvalidTransition, PublishNotAllowed

__all__ = [
    "PublishDecision",
    "WorkflowState",
    "allowed_actions",
    "allowed_publish_operations",
    "check_publish",
    "initial_state",
    "record_new_version",
    "transition",
]


class WorkflowState(BaseModel):
    """The columns of ``data_workflow`` the state rules read."""

    model_config = ConfigDict(frozen=True)

    status: WorkflowStatus
    current_version_id: int | None
    approved_version_id: int | None = None
    last_published_version_id: int | None = None
    #: DolphinScheduler ``workflowDefinitionCode``; set once the workflow was deployed.
    workflow_code: int | None = None
    #: tasks of the current version (``None``: not known to the caller; an empty workflow cannot be approved)
    task_count: int | None = None

    @property
    def is_empty(self) -> bool:
        return self.task_count == 0

    @property
    def current_is_approved(self) -> bool:
        return self.current_version_id is not None and self.approved_version_id == self.current_version_id

    @property
    def has_pending_version(self) -> bool:
        """A version newer than the approved one waits for approval."""
        return self.current_version_id is not None and not self.current_is_approved


class PublishDecision(BaseModel):
    """What a permitted publish operation will do."""

    model_config = ConfigDict(frozen=True)

    operation: PublishOperation
    version_id: int
    #: send the definition to DS (gateway createOrUpdate)
    deploy: bool
    #: then call DS ``release`` with this state
    release_state: Literal["ONLINE", "OFFLINE"] | None


def initial_state(version_id: int) -> WorkflowState:
    """A newly created workflow: ``draft``, its first version not yet approved."""
    return WorkflowState(status=WorkflowStatus.DRAFT, current_version_id=version_id)


_TARGET = {
    WorkflowAction.ONLINE: WorkflowStatus.ONLINE,
    WorkflowAction.OFFLINE: WorkflowStatus.OFFLINE,
    WorkflowAction.ARCHIVE: WorkflowStatus.ARCHIVED,
}


def allowed_actions(state: WorkflowState) -> tuple[WorkflowAction, ...]:
    """The actions ``transition`` accepts in ``state``."""
    s = state.status
    out: list[WorkflowAction] = []
    if s is WorkflowStatus.ARCHIVED:
        return ()
    if state.has_pending_version and s is not WorkflowStatus.READY and not state.is_empty:
        out.append(WorkflowAction.APPROVE)
    if s is WorkflowStatus.READY or (s is WorkflowStatus.OFFLINE and state.approved_version_id is not None):
        out.append(WorkflowAction.ONLINE)
    if s is WorkflowStatus.ONLINE:
        out.append(WorkflowAction.OFFLINE)
    out.append(WorkflowAction.ARCHIVE)
    return tuple(out)


def transition(state: WorkflowState, action: WorkflowAction) -> WorkflowState:
    """Apply a platform action. :raises InvalidTransition: with ``allowed_actions`` in message and extras."""
    allowed = allowed_actions(state)
    if action not in allowed:
        names = ", ".join(allowed) if allowed else "none"
        reason = ""
        if action is WorkflowAction.APPROVE and not state.has_pending_version:
            reason = " (the current version is already approved)"
        elif action is WorkflowAction.APPROVE and state.is_empty:
            reason = " (the current version has no tasks: an empty workflow cannot be approved)"
        raise InvalidTransition(
            f"cannot {action} a workflow in status '{state.status}'{reason}; allowed actions: {names}",
            status=str(state.status),
            action=str(action),
            allowed_actions=[str(a) for a in allowed],
        )
    if action is WorkflowAction.APPROVE:
        new_status = WorkflowStatus.READY if state.status is WorkflowStatus.DRAFT else state.status
        return state.model_copy(update={"status": new_status, "approved_version_id": state.current_version_id})
    return state.model_copy(update={"status": _TARGET[action]})


def record_new_version(state: WorkflowState, version_id: int) -> WorkflowState:
    """The state after a new version (edit, lineage change, migration, rollback) becomes current."""
    status = WorkflowStatus.DRAFT if state.status is WorkflowStatus.READY else state.status
    return state.model_copy(update={"status": status, "current_version_id": version_id})


def _publish_refusal(state: WorkflowState, op: PublishOperation) -> tuple[str, str] | None:
    """``(reason code, message)`` when ``op`` is not allowed, else ``None``."""
    if op is PublishOperation.OFFLINE:
        if state.workflow_code is None or state.last_published_version_id is None:
            return "not_deployed", "the workflow has never been deployed to DolphinScheduler"
        return None
    if state.status is WorkflowStatus.ARCHIVED:
        return "archived", "the workflow is archived"
    if not state.current_is_approved:
        return "not_approved", "the current version is not approved"
    if state.status is WorkflowStatus.DRAFT:  # pragma: no cover - a draft never has an approved current version
        return "draft", "a draft workflow cannot be published"
    if op is PublishOperation.ONLINE and state.status is WorkflowStatus.OFFLINE:
        return "platform_offline", "the workflow is offline on the platform; put it online first"
    return None


def allowed_publish_operations(state: WorkflowState) -> tuple[PublishOperation, ...]:
    return tuple(op for op in PublishOperation if _publish_refusal(state, op) is None)


def check_publish(state: WorkflowState, operation: PublishOperation) -> PublishDecision:
    """Check a publish request and say which version to pin and what to call in DS.

    :raises PublishNotAllowed: extras ``operation``, ``status``, ``reason``, ``allowed_operations``.
    """
    refusal = _publish_refusal(state, operation)
    if refusal is not None:
        reason, message = refusal
        allowed = allowed_publish_operations(state)
        raise PublishNotAllowed(
            f"cannot {operation} workflow to DolphinScheduler: {message}; "
            f"allowed operations: {', '.join(allowed) if allowed else 'none'}",
            operation=str(operation),
            status=str(state.status),
            reason=reason,
            allowed_operations=[str(o) for o in allowed],
        )
    if operation is PublishOperation.OFFLINE:
        assert state.last_published_version_id is not None
        return PublishDecision(
            operation=operation, version_id=state.last_published_version_id, deploy=False, release_state="OFFLINE"
        )
    assert state.current_version_id is not None
    return PublishDecision(
        operation=operation,
        version_id=state.current_version_id,
        deploy=True,
        release_state="ONLINE" if operation is PublishOperation.ONLINE else None,
    )
