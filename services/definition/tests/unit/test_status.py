from __future__ import annotations

import pytest

from definition.domain.enums import PublishOperation, WorkflowAction, WorkflowStatus
from definition.domain.errors import InvalidTransition, PublishNotAllowed
from definition.domain.status import (
    WorkflowState,
    allowed_actions,
    allowed_publish_operations,
    check_publish,
    initial_state,
    record_new_version,
    transition,
)

A, ON, OFF, AR = WorkflowAction.APPROVE, WorkflowAction.ONLINE, WorkflowAction.OFFLINE, WorkflowAction.ARCHIVE


def test_happy_path_draft_ready_online_offline_online() -> None:
    s = initial_state(10)
    assert s.status is WorkflowStatus.DRAFT
    assert allowed_actions(s) == (A, AR)
    s = transition(s, A)
    assert (s.status, s.approved_version_id) == (WorkflowStatus.READY, 10)
    assert allowed_actions(s) == (ON, AR)
    s = transition(s, ON)
    assert s.status is WorkflowStatus.ONLINE
    assert allowed_actions(s) == (OFF, AR)
    s = transition(s, OFF)
    assert s.status is WorkflowStatus.OFFLINE
    assert allowed_actions(s) == (ON, AR)
    assert transition(s, ON).status is WorkflowStatus.ONLINE
    archived = transition(s, AR)
    assert archived.status is WorkflowStatus.ARCHIVED
    assert allowed_actions(archived) == ()


@pytest.mark.parametrize(
    ("status", "action", "allowed"),
    [
        (WorkflowStatus.DRAFT, ON, ["approve", "archive"]),
        (WorkflowStatus.DRAFT, OFF, ["approve", "archive"]),
        (WorkflowStatus.READY, A, ["online", "archive"]),
        (WorkflowStatus.READY, OFF, ["online", "archive"]),
        (WorkflowStatus.ONLINE, ON, ["offline", "archive"]),
        (WorkflowStatus.ONLINE, A, ["offline", "archive"]),
        (WorkflowStatus.OFFLINE, OFF, ["online", "archive"]),
    ],
)
def test_invalid_transitions_list_allowed_actions(
    status: WorkflowStatus, action: WorkflowAction, allowed: list[str]
) -> None:
    approved = None if status is WorkflowStatus.DRAFT else 1
    state = WorkflowState(status=status, current_version_id=1, approved_version_id=approved)
    with pytest.raises(InvalidTransition) as ei:
        transition(state, action)
    err = ei.value
    assert err.status == 409
    assert err.extras == {"status": str(status), "action": str(action), "allowed_actions": allowed}
    assert f"allowed actions: {', '.join(allowed)}" in err.detail


def test_editing_ready_returns_to_draft() -> None:
    s = transition(initial_state(1), A)
    s = record_new_version(s, 2)
    assert (s.status, s.current_version_id, s.approved_version_id) == (WorkflowStatus.DRAFT, 2, 1)
    assert s.has_pending_version
    assert allowed_actions(s) == (A, AR)
    assert transition(s, A).status is WorkflowStatus.READY


@pytest.mark.parametrize("status", [WorkflowStatus.ONLINE, WorkflowStatus.OFFLINE])
def test_editing_online_or_offline_keeps_status_but_needs_approval(status: WorkflowStatus) -> None:
    s = WorkflowState(
        status=status, current_version_id=1, approved_version_id=1, last_published_version_id=1, workflow_code=77
    )
    s = record_new_version(s, 2)
    assert s.status is status
    assert s.has_pending_version
    assert A in allowed_actions(s)
    with pytest.raises(PublishNotAllowed) as ei:
        check_publish(s, PublishOperation.DEPLOY)
    assert ei.value.extras["reason"] == "not_approved"
    approved = transition(s, A)
    assert approved.status is status
    assert approved.approved_version_id == 2
    assert check_publish(approved, PublishOperation.DEPLOY).version_id == 2


def test_draft_edit_stays_draft() -> None:
    assert record_new_version(initial_state(1), 2).status is WorkflowStatus.DRAFT


def _state(status: WorkflowStatus, *, approved: bool = True, deployed: bool = False) -> WorkflowState:
    return WorkflowState(
        status=status,
        current_version_id=5,
        approved_version_id=5 if approved else 4,
        last_published_version_id=4 if deployed else None,
        workflow_code=1234 if deployed else None,
    )


@pytest.mark.parametrize(
    ("state", "allowed"),
    [
        (_state(WorkflowStatus.DRAFT, approved=False), []),
        (_state(WorkflowStatus.READY), ["deploy", "online"]),
        (_state(WorkflowStatus.ONLINE), ["deploy", "online"]),
        (_state(WorkflowStatus.ONLINE, deployed=True), ["deploy", "online", "offline"]),
        (_state(WorkflowStatus.ONLINE, approved=False, deployed=True), ["offline"]),
        (_state(WorkflowStatus.OFFLINE, deployed=True), ["deploy", "offline"]),
        (_state(WorkflowStatus.DRAFT, approved=False, deployed=True), ["offline"]),
        (_state(WorkflowStatus.ARCHIVED, deployed=True), ["offline"]),
        (_state(WorkflowStatus.ARCHIVED), []),
    ],
)
def test_publish_matrix(state: WorkflowState, allowed: list[str]) -> None:
    assert [str(o) for o in allowed_publish_operations(state)] == allowed
    for op in PublishOperation:
        if str(op) in allowed:
            check_publish(state, op)
        else:
            with pytest.raises(PublishNotAllowed) as ei:
                check_publish(state, op)
            assert ei.value.extras["allowed_operations"] == allowed
            assert ei.value.status == 409


def test_publish_decisions_pin_the_right_version() -> None:
    s = _state(WorkflowStatus.ONLINE, deployed=True)
    deploy = check_publish(s, PublishOperation.DEPLOY)
    assert (deploy.version_id, deploy.deploy, deploy.release_state) == (5, True, None)
    online = check_publish(s, PublishOperation.ONLINE)
    assert (online.version_id, online.deploy, online.release_state) == (5, True, "ONLINE")
    offline = check_publish(s, PublishOperation.OFFLINE)
    assert (offline.version_id, offline.deploy, offline.release_state) == (4, False, "OFFLINE")


def test_ds_online_refused_when_platform_offline() -> None:
    with pytest.raises(PublishNotAllowed) as ei:
        check_publish(_state(WorkflowStatus.OFFLINE, deployed=True), PublishOperation.ONLINE)
    assert ei.value.extras["reason"] == "platform_offline"
    assert "put it online first" in ei.value.detail


def test_offline_needs_a_deployed_workflow() -> None:
    with pytest.raises(PublishNotAllowed) as ei:
        check_publish(_state(WorkflowStatus.ONLINE), PublishOperation.OFFLINE)
    assert ei.value.extras["reason"] == "not_deployed"


@pytest.mark.parametrize("status", [WorkflowStatus.DRAFT, WorkflowStatus.ONLINE, WorkflowStatus.OFFLINE])
def test_an_empty_version_cannot_be_approved(status: WorkflowStatus) -> None:
    empty = WorkflowState(status=status, current_version_id=7, approved_version_id=3, task_count=0)
    assert A not in allowed_actions(empty)
    with pytest.raises(InvalidTransition, match="empty workflow cannot be approved"):
        transition(empty, A)
    assert A in allowed_actions(empty.model_copy(update={"task_count": 1}))
