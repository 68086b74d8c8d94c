"""Links the portal shows: the portal's own routes and a publish's trace. "Open in DolphinScheduler" links come from
``common.dolphin.links`` (one builder for the gateway and the publisher)."""

from __future__ import annotations

import re
from typing import Any

from common.dolphin.links import DsLinks


def workflow_link(workflow_id: int | None) -> str | None:
    """The portal route of a workflow's detail page."""
    return f"/workflows/{workflow_id}" if workflow_id is not None else None


_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


def trace_link(template: str, trace_id: Any) -> str | None:
    """The trace backend's page of ``trace_id`` (``template`` with ``{trace_id}`` replaced); ``None`` without a
    template or a recorded trace (32 lower-case hex digits)."""
    if not template or not isinstance(trace_id, str) or not _TRACE_ID.match(trace_id):
        return None
    return template.replace("{trace_id}", trace_id)


def with_trace_links(template: str, page: dict[str, Any]) -> dict[str, Any]:
    """A page of publish records (``items``) with each record's ``trace_link``."""
    items = page.get("items")
    for record in items if isinstance(items, list) else ():
        if isinstance(record, dict):
            record["trace_link"] = trace_link(template, record.get("trace_id"))
    return page


def with_run_trace_links(template: str, executions: dict[str, Any], runs: dict[str, Any]) -> dict[str, Any]:
    """The executions part of a workflow page with each execution's ``trace_link``: the trace of the platform request
    that started it (a run request of the publisher naming its DS instance id); ``None`` for an instance started
    otherwise (DS's schedule, DS's UI) or whose request's trace was not recorded."""
    traces: dict[int, Any] = {}
    for run in runs.get("items") or ():
        if isinstance(run, dict):
            for instance_id in run.get("instance_ids") or ():
                traces.setdefault(instance_id, run.get("trace_id"))
    for execution in executions.get("executions") or ():
        if isinstance(execution, dict):
            instance_id = execution.get("instance_id")
            execution["trace_link"] = trace_link(template, traces.get(instance_id) if instance_id else None)
    return executions


def with_instance_links(links: DsLinks, executions: dict[str, Any]) -> dict[str, Any]:
    """history-sync's executions of a workflow with each execution's ``ds_link``: its instance's page in
    DolphinScheduler's UI (``None`` when DS links are not configured)."""
    project_code = executions.get("project_code")
    for execution in executions.get("executions") or ():
        if isinstance(execution, dict):
            execution["ds_link"] = links.workflow_instance(project_code, execution.get("instance_id"))
    return executions


def audit_resource(path: str, prefix: str = "/api/v1/") -> str | None:
    """What a mutating call acted on, e.g. ``workflows/12`` for ``/api/v1/workflows/12/publish``, ``migrations`` for
    ``/api/v1/migrations/preview``; ``None`` outside the API."""
    if not path.startswith(prefix):
        return None
    parts = [p for p in path[len(prefix) :].split("/") if p]
    if not parts:
        return None
    if len(parts) >= 2 and parts[1].isdigit():
        return f"{parts[0]}/{parts[1]}"
    return parts[0]
