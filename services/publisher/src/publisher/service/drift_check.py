"""Drift: does DolphinScheduler still hold what the platform last deployed?"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from common.db import unit_of_work
from common.dolphin import DolphinNotFound
from common.errors import NotFound
from common.workflow import StructureSnapshot, SubWorkflowParams, datasources_of
from publisher.db import repository as repo
from publisher.deps import Deps
from publisher.domain import convert, drift


class DriftView(BaseModel):
    workflow_id: int
    workflow_code: int
    project_code: int
    #: in_sync | drifted | missing_in_ds | unverifiable (no confirmed deploy to compare with)
    status: Literal["in_sync", "drifted", "missing_in_ds", "unverifiable"]
    last_deployed_version_id: int | None
    last_deployed_hash: str | None
    #: fingerprints of the comparable content: what the last deploy put there, and what DS holds now
    expected_ds_hash: str | None = None
    ds_hash: str | None = None
    ds_version: int | None = None
    differences: list[str] = Field(default_factory=list)


async def _upstream_task_codes(deps: Deps, snapshot: StructureSnapshot) -> dict[int, int]:
    """The DS task codes of the tasks the snapshot's DEPENDENT links wait for (issue 20): this publisher's codes of
    the upstream workflows' tasks, for the links whose upstream DS holds under the codes the approved version names.
    A link left out is refused by ``convert`` (``UpstreamNotDeployed``), naming it."""
    links = snapshot.external_dependencies
    if not links:
        return {}
    wanted = sorted({d.upstream_workflow_id for d in links})
    async with unit_of_work(deps.sessions) as s:
        engines = await repo.engine_workflows_of(s, wanted)
        codes = {w: await repo.task_codes(s, w) for w in wanted if w in engines}
    out: dict[int, int] = {}
    for d in links:
        engine = engines.get(d.upstream_workflow_id)
        if engine is None or engine.workflow_code is None or engine.project_code is None:
            continue
        if (int(engine.workflow_code), int(engine.project_code)) != (d.upstream_workflow_code, d.upstream_project_code):
            continue  # DS holds it under other codes now: the definition service writes a version with them
        code = codes.get(d.upstream_workflow_id, {}).get(d.upstream_task_id)
        if code is not None:
            out[d.upstream_task_id] = code
    return out


async def _sub_workflow_codes(deps: Deps, snapshot: StructureSnapshot) -> dict[int, int]:
    """The DS workflow codes of the workflows the snapshot's SUB_WORKFLOW tasks run (issue 21): this publisher's code
    of each child deployed; a child left out is refused by ``convert`` (``SubWorkflowNotDeployed``), naming it."""
    wanted = sorted({t.params.workflow_id for t in snapshot.tasks if type(t.params) is SubWorkflowParams})
    if not wanted:
        return {}
    async with unit_of_work(deps.sessions) as s:
        engines = await repo.engine_workflows_of(s, wanted)
    return {w: int(e.workflow_code) for w, e in engines.items() if e.workflow_code is not None}


async def drift_check(deps: Deps, workflow_id: int) -> DriftView:
    """Read the workflow back from DS by code and compare it with the last deployed definition (read-only)."""
    async with unit_of_work(deps.sessions) as s:
        engine = await repo.engine_workflow_of(s, workflow_id)
        if engine is None:
            raise NotFound(f"workflow {workflow_id} has never been deployed to DolphinScheduler")
        record = (
            await repo.last_deployed_record(s, workflow_id, engine.last_deployed_hash)
            if engine.last_deployed_hash
            else None
        )
        codes = await repo.task_codes(s, workflow_id)
    project_code, code = int(engine.project_code), int(engine.workflow_code)
    view = DriftView(
        workflow_id=workflow_id,
        workflow_code=code,
        project_code=project_code,
        status="unverifiable",
        last_deployed_version_id=engine.last_deployed_version_id,
        last_deployed_hash=engine.last_deployed_hash,
    )
    if record is None:
        view.differences = ["no confirmed deploy of this workflow to compare with"]
        return view
    snapshot = StructureSnapshot.model_validate(record.snapshot)
    wanted = sorted({ds for t in snapshot.tasks for ds in datasources_of(t.params)})
    datasource_ids = {(n, t): (await deps.gateway.get_datasource(n, t.upper())).id for n, t in wanted}
    defn = convert(
        snapshot,
        codes,
        datasource_ids=datasource_ids,
        upstream_task_codes=await _upstream_task_codes(deps, snapshot),
        sub_workflow_codes=await _sub_workflow_codes(deps, snapshot),
    )
    if defn.content_hash != engine.last_deployed_hash:
        view.differences = ["the deployed definition cannot be rebuilt (converter changed since the deploy)"]
        return view
    expected = drift.expected_content(defn)
    view.expected_ds_hash = expected.fingerprint()
    try:
        dag = await deps.rest.get_workflow_definition(project_code, code)
    except DolphinNotFound:
        view.status = "missing_in_ds"
        view.differences = [f"workflow {code} does not exist in DolphinScheduler project {project_code}"]
        return view
    actual = drift.actual_content(dag, expected)
    view.ds_hash = actual.fingerprint()
    view.ds_version = dag.workflow_definition.version
    view.differences = drift.differences(expected, actual)
    view.status = "in_sync" if view.ds_hash == view.expected_ds_hash else "drifted"
    return view
