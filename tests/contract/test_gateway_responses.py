"""The gateway passes the services' answers on (``gateway.responses``): each of its models has every field of the
service's own model, so a field a service adds cannot be dropped on the way to the portal unnoticed, and adds only
what the gateway composes.

The models are mirrored, not imported (services never import each other); this test is where they meet.
"""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from common import workflow as cw
from definition import schemas as d
from definition.domain import diff, migration
from gateway import responses as g
from gateway.responses import openlineage as gol
from gateway.responses import tasks as gt
from history_sync import routes as h
from lineage_resolver import routes as lr
from publisher import restore as prs
from publisher import runs as pr
from publisher.service import batch as pb
from publisher.service import views as pv

PAIRS: list[tuple[type[BaseModel], type[BaseModel]]] = [
    (d.Task, g.Task),
    (d.TaskDetail, g.TaskDetail),
    (d.SuggestedWorkflow, g.SuggestedWorkflow),
    (d.Notice, g.Notice),
    # a task's OpenLineage job identity (``/api/v1/tasks/{id}/openlineage-job`` answers it with the task's id and
    # revision: composed by the gateway, not a service's model)
    (d.OpenLineageJob, gt.OpenLineageJob),
    (d.TaskListItem, g.TaskListItem),
    (d.TaskDetail, g.TaskView),
    (d.WorkflowSummary, g.WorkflowSummary),
    (d.LastExecution, g.LastExecution),
    (d.WorkflowListItem, g.WorkflowListItem),
    (d.WorkflowTask, g.WorkflowTask),
    (d.WorkflowDetail, g.WorkflowDetail),
    (d.RollbackResult, g.RollbackResult),
    (d.VersionSummary, g.VersionSummary),
    (d.Version, g.Version),
    (d.PublishAccepted, g.PublishAccepted),
    (d.MigrationResult, g.MigrationResult),
    (d.CrossDependencyOut, g.CrossDependency),
    (d.ProposalSummary, g.ProposalSummary),
    (d.ProposalRebuild, g.ProposalRebuild),
    (d.ProposalAccepted, g.ProposalAccepted),
    (diff.ChangeSummary, g.ChangeSummary),
    (diff.FieldChange, g.FieldChange),
    (diff.TaskChange, g.TaskChange),
    (diff.ScheduleChange, g.ScheduleChange),
    (diff.GlobalParamsChange, g.GlobalParamsChange),
    (diff.LinksChange, g.LinksChange),
    (migration.CutEdge, g.CutEdge),
    (migration.MigrationWarning, g.MigrationWarning),
    (migration.MigrationPlan, g.MigrationPreview),
    (cw.StructureSnapshot, g.StructureSnapshot),
    (cw.SnapshotTask, g.SnapshotTask),
    (cw.Schedule, g.Schedule),
    (cw.Param, g.GlobalParam),
    (cw.ExternalDependency, g.ExternalDependency),
    (pv.PublishRecordView, g.PublishRecord),
    (pv.RecordPage, g.PublishRecordPage),
    (pr.RunView, g.RunView),
    (pb.BatchRunItem, g.BatchRunItem),
    (pb.BatchRunResult, g.BatchRunResult),
    (prs.RestoreView, g.Restore),
    (h.ExecutionOut, g.Execution),
    (h.WorkflowExecutionsOut, g.WorkflowExecutions),
    (h.InstanceOut, g.Instance),
    (h.TaskInstanceOut, g.TaskInstance),
    (h.InstanceDetailOut, g.InstanceDetail),
    (h.TaskLogOut, g.TaskLogPage),
    (h.WorkflowExecutionsOut, g.ExecutionsPart),
    (h.TaskMetricsOut, g.TaskMetrics),
    (h.TaskRunCellOut, g.TaskRunCell),
    (lr.LineageEventOut, gol.LineageAccepted),
    (lr.AppliedPendingOut, gol.AppliedPending),
    (lr.PatternOut, gol.OpenLineageJobPattern),
    (lr.PatternSetOut, gol.OpenLineageJobPatternSet),
    (lr.PatternPage, gol.OpenLineageJobPatternPage),
    (lr.UnmappedJobOut, gol.UnmappedJob),
    (lr.UnmappedJobPage, gol.UnmappedJobPage),
    (lr.TableMatchOut, g.TableMatch),
    (lr.TableSearchOut, g.TableSearch),
    (lr.LineageTableOut, g.LineageTable),
    (lr.TableEdgeOut, g.LineageTableEdge),
    (lr.LineageTaskOut, g.LineageTask),
    (lr.TableLineageOut, g.TableLineage),
    (lr.PathStepOut, g.PathStep),
    (lr.TableDistance, g.TableDistance),
    (lr.AffectedTaskOut, g.AffectedTask),
    (lr.AffectedOut, g.TableImpact),
]

#: what the gateway adds to a service's answer (docs/api-contracts.md §5)
COMPOSED: dict[type[BaseModel], set[str]] = {
    g.TaskListItem: {"workflow_link", "ds_link", "metrics"},
    g.TaskView: {"upstream_count", "downstream_count", "upstream_task_ids", "downstream_task_ids"}
    | {"workflow_link", "ds_link", "metrics", "unavailable"},
    g.WorkflowListItem: {"executions_unavailable", "ds_link"},
    g.CrossDependency: {"tables"},
    g.MigrationPreview: {"source_version_no", "target_version_no"},
    g.PublishRecord: {"trace_link"},
    g.Execution: {"trace_link", "ds_link"},
    g.ExecutionsPart: {"tracked"},
    g.BatchRunItem: {"ds_links"},
    # the tasks named by the definition service, grouped by workflow
    g.LineageTask: {"name", "task_type", "workflow_id", "workflow_name", "workflow_link"},
    g.TableLineage: {"workflows", "unavailable"},
    g.AffectedTask: {"name", "task_type", "workflow_id", "workflow_name", "workflow_link"},
    g.TableImpact: {"workflows", "unavailable"},
}


@pytest.mark.parametrize(("service", "gateway"), PAIRS, ids=[f"{u.__name__}-{w.__name__}" for u, w in PAIRS])
def test_the_gateway_keeps_every_field_of_the_service_answer(
    service: type[BaseModel], gateway: type[BaseModel]
) -> None:
    missing = set(service.model_fields) - set(gateway.model_fields)
    assert not missing, f"gateway.responses.{gateway.__name__} would drop {sorted(missing)} of {service.__qualname__}"
    added = set(gateway.model_fields) - set(service.model_fields)
    assert added == COMPOSED.get(gateway, set()), (
        f"{gateway.__name__} adds {sorted(added)} the gateway does not compose"
    )
