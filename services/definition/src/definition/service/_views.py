"""Mapping rows and snapshots to the API models (``definition.schemas``)."""

from __future__ import annotations

from collections import Counter
from operator import attrgetter
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Row

from common.workflow import Edge, StructureSnapshot
from definition import schemas
from definition.domain.enums import WorkflowStatus
from definition.domain.status import WorkflowState, allowed_actions, allowed_publish_operations
from definition.snapshots import EncodedSnapshot, dump_around, fields_around

_WORKFLOW_TASKS = TypeAdapter(list[schemas.WorkflowTask])
_DETAIL_BEFORE, _DETAIL_AFTER = fields_around(schemas.WorkflowDetail, "tasks", "edges")


def _state(row: Row[Any]) -> WorkflowState:
    return WorkflowState(
        status=WorkflowStatus(row.status),
        current_version_id=row.current_version_id,
        approved_version_id=row.approved_version_id,
        last_published_version_id=row.last_published_version_id,
        workflow_code=row.workflow_code,
        task_count=row.task_count,
    )


_UPSTREAM = attrgetter("upstream_task_id")
_DOWNSTREAM = attrgetter("downstream_task_id")


def _counts(snapshot: StructureSnapshot) -> tuple[Counter[int], Counter[int]]:
    """``(upstream count, downstream count)`` per task id."""
    return Counter(map(_DOWNSTREAM, snapshot.edges)), Counter(map(_UPSTREAM, snapshot.edges))


def _summary(row: Row[Any]) -> schemas.WorkflowSummary:
    return schemas.WorkflowSummary(**_summary_fields(row))


def _summary_fields(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.workflow_name,
        "description": row.description,
        "status": row.status,
        "publish_status": row.publish_status,
        "workflow_code": row.workflow_code,
        "project_code": row.project_code,
        "release_state": row.release_state,
        "schedule_online": row.schedule_online,
        "current_version_no": row.current_version_no,
        "approved": _state(row).current_is_approved,
        "last_published_version_no": row.last_published_version_no,
        "last_execution_state": row.last_execution_state,
        "last_execution_at": row.last_execution_at,
        # a failed publish that left DS other than intended needs attention too (and says so first)
        "needs_attention": row.needs_attention or row.ds_attention is not None,
        "attention_reason": row.ds_attention["reason"] if row.ds_attention is not None else row.attention_reason,
        "task_count": row.task_count,
        "updated_at": row.updated_at,
        "updated_by": row.updated_by,
    }


def _detail(row: Row[Any], snapshot: StructureSnapshot) -> schemas.WorkflowDetail:
    up, down = _counts(snapshot)
    # One validator call for all rows (``params``/``node_attrs`` are model instances and pass through as they are):
    # much cheaper than building 2,000 models one by one in Python.
    tasks = _WORKFLOW_TASKS.validate_python(
        [
            {
                "task_id": t.task_id,
                "name": t.name,
                "task_type": t.task_type,
                "description": t.description,
                "params": t.params,
                "node_attrs": t.node_attrs,
                "upstream_count": up[t.task_id],
                "downstream_count": down[t.task_id],
            }
            for t in snapshot.tasks
        ]
    )
    return _detail_model(row, snapshot, tasks, list(snapshot.edges))


def _detail_json(row: Row[Any], encoded: EncodedSnapshot) -> bytes:
    """Exactly the bytes of ``_detail(row, encoded.snapshot).model_dump_json()`` (what FastAPI would send for it),
    without building and serialising one ``WorkflowTask`` per task: the detail's other fields are dumped by pydantic
    and the tasks and edges come from the snapshot's JSON pieces (a ``WorkflowTask`` is a ``SnapshotTask`` — same
    fields, same order, same types — followed by its two counts)."""
    snapshot = encoded.snapshot
    up, down = _counts(snapshot)
    tasks = ",".join(
        [
            f'{j[:-1]},"upstream_count":{up[t.task_id]},"downstream_count":{down[t.task_id]}}}'
            for t, j in zip(snapshot.tasks, encoded.tasks, strict=True)
        ]
    )
    middle = f'"tasks":[{tasks}],"edges":{encoded.edges}'
    return dump_around(_detail_model(row, snapshot, [], []), _DETAIL_BEFORE, middle, _DETAIL_AFTER).encode()


def _detail_model(
    row: Row[Any], snapshot: StructureSnapshot, tasks: list[schemas.WorkflowTask], edges: list[Edge]
) -> schemas.WorkflowDetail:
    state = _state(row)
    return schemas.WorkflowDetail(
        **_summary_fields(row),
        tasks=tasks,
        edges=edges,
        entry_task_ids=list(snapshot.entry_task_ids),
        exit_task_ids=list(snapshot.exit_task_ids),
        schedule=snapshot.schedule,
        global_params=list(snapshot.global_params),
        execution_type=snapshot.execution_type,
        timeout_minutes=snapshot.timeout_minutes,
        allowed_actions=[str(a) for a in allowed_actions(state)],
        allowed_publish_operations=[str(o) for o in allowed_publish_operations(state)],
        attention_details=row.attention_details,
        ds_attention=row.ds_attention,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _task_view(row: Row[Any]) -> schemas.Task:
    return schemas.Task(
        id=row.id,
        name=row.name,
        task_type=row.task_type,
        description=row.description,
        params=row.params,
        worker_group=row.worker_group,
        owner=row.owner,
        revision=row.revision,
        workflow_id=row.workflow_id,
        workflow_name=row.workflow_name,
        workflow_code=row.workflow_code,
        project_code=row.project_code,
        ds_task_code=row.ds_task_code,
        openlineage_job=(
            schemas.OpenLineageJob(namespace=row.openlineage_namespace, name=row.openlineage_name)
            if row.openlineage_namespace is not None
            else None
        ),
        created_by=row.created_by,
        updated_by=row.updated_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _version_summary(row: Row[Any]) -> schemas.VersionSummary:
    return schemas.VersionSummary(
        id=row.id,
        version_no=row.version_no,
        trigger_source=row.trigger_source,
        created_by=row.created_by,
        created_at=row.created_at,
        content_hash=row.content_hash,
        summary=row.summary or "",
    )


def _definition_json(snapshot: StructureSnapshot) -> dict[str, Any]:
    """``data_workflow.definition_json``: the DAG of the current version (node attributes live in the relations)."""
    return {
        "task_ids": [t.task_id for t in snapshot.tasks],
        "edges": [[e.upstream_task_id, e.downstream_task_id] for e in snapshot.edges],
        "schedule": snapshot.schedule.model_dump(mode="json") if snapshot.schedule else None,
        "global_params": [p.model_dump(mode="json") for p in snapshot.global_params],
        "execution_type": str(snapshot.execution_type),
        "timeout_minutes": snapshot.timeout_minutes,
        # the workflows its DEPENDENT links wait for (issue 20): found again when their DS codes change
        **(
            {"upstream_workflow_ids": sorted({d.upstream_workflow_id for d in snapshot.external_dependencies})}
            if snapshot.external_dependencies
            else {}
        ),
    }
