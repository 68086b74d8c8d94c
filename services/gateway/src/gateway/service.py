"""Composed pages: the use cases that call several services for one answer.

Essential parts fail the request (their problem or 503/504 goes to the caller). Non-essential parts — the detail's
versions / publish records / executions, lineage counts, workflow names and DS links of task pages — are fetched
concurrently with short budgets; one that fails becomes ``null`` and its name is listed in ``unavailable``, so the
page still answers.

The two lists are ONE call each to the definition service, which keeps read projections of the events it consumes:
the workflow list carries each workflow's last 10 executions (``execution.synced``), the task list filters by
``upstreamTaskId``/``downstreamTaskId`` and carries the dependency counts (``task.dependency.changed``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, TypeVar

from common.errors import Conflict, NotFound, PlatformError
from gateway.deps import Deps
from gateway.domain.links import with_instance_links, with_run_trace_links, with_trace_links, workflow_link
from gateway.domain.task_metrics import metrics_of_task
from gateway.errors import UpstreamProblem
from gateway.ports import Caller, Json, Params
from gateway.schemas import TaskListQuery

log = logging.getLogger(__name__)

T = TypeVar("T")

DETAIL_FIRST_PAGE = 20

UpstreamFailure = (PlatformError, UpstreamProblem)


class _Missing:
    """Marks a non-essential part that could not be fetched."""


MISSING = _Missing()


async def optional(part: str, call: Awaitable[T]) -> T | _Missing:
    """Await a non-essential call; on any upstream failure log it and return ``MISSING``."""
    try:
        return await call
    except UpstreamFailure as exc:
        log.warning("page part %s unavailable: %s", part, _reason(exc), extra={"part": part})
        return MISSING


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UpstreamProblem):
        return f"{exc.service} answered {exc.status}"
    return str(exc)


async def _together(essential: Awaitable[T], *others: Awaitable[Any]) -> tuple[T, list[Any]]:
    """Run the calls concurrently; the first one is essential: when it fails the others are cancelled and its error
    is raised as is (the others must not raise: wrap them in ``optional``)."""
    try:
        async with asyncio.TaskGroup() as tg:
            first = tg.create_task(_as_coro(essential))
            rest = [tg.create_task(_as_coro(o)) for o in others]
    except BaseExceptionGroup as group:
        raise group.exceptions[0] from None
    return first.result(), [t.result() for t in rest]


async def _as_coro(aw: Awaitable[T]) -> T:
    return await aw


# ------------------------------------------------------------------------------------------------------------ workflows


async def list_workflows(deps: Deps, params: Params, caller: Caller) -> Json:
    """One call: the definition service's page carries each workflow's last executions (its projection of
    ``execution.synced``, as fresh as that topic's consumer; ``executions_synced_at`` says when history-sync read
    them). The gateway adds the DS link; ``executions_unavailable`` stays in the shape the portal reads (it is
    ``true`` only when an answer lacks the executions)."""
    page = await deps.definition.list_workflows(params, caller)
    items: list[Json] = page.get("items", [])
    links = deps.settings.ds_links
    missing = False
    for w in items:
        runs = w.get("last_executions")
        if runs is None:
            missing = True
        w["executions_unavailable"] = runs is None
        w["ds_link"] = links.workflow_definition(w.get("project_code"), w.get("workflow_code"))
    page["items"] = items
    page["unavailable"] = ["executions"] if missing else []
    return page


async def _executions_part(deps: Deps, workflow_id: int, caller: Caller) -> Json:
    """The detail page's executions: history-sync's answer (age, stale, last error) with ``tracked``; a workflow
    history-sync does not track (never deployed) has none."""
    try:
        answer = await deps.history.executions(workflow_id, caller)
    except UpstreamProblem as exc:
        if exc.status == 404:
            return {"workflow_id": workflow_id, "tracked": False, "executions": []}
        raise
    return {**answer, "tracked": True}


#: the run requests whose instances the detail page links to their traces (the last 10 executions are mostly among
#: the latest runs the platform started, when it started them)
RUN_TRACES = 50


async def _nothing() -> Json:
    return {}


async def workflow_detail(deps: Deps, workflow_id: int, caller: Caller) -> Json:
    trace_ui = deps.settings.trace_url_template
    detail, (versions, records, executions, runs) = await _together(
        deps.definition.get_workflow(workflow_id, caller),
        optional("versions", deps.definition.list_versions(workflow_id, 1, DETAIL_FIRST_PAGE, caller)),
        optional("publish_records", deps.publisher.list_publish_records(workflow_id, 1, DETAIL_FIRST_PAGE, caller)),
        optional("executions", _executions_part(deps, workflow_id, caller)),
        # only for the runs' trace links: asked for when a trace backend's UI is configured
        optional("runs", deps.publisher.list_runs(workflow_id, RUN_TRACES, caller)) if trace_ui else _nothing(),
    )
    if not isinstance(records, _Missing):
        records = with_trace_links(trace_ui, records)
    if not isinstance(executions, _Missing):
        # a missing runs answer costs only the links (never marks the page part unavailable)
        executions = with_run_trace_links(trace_ui, executions, runs if isinstance(runs, dict) else {})
        executions = with_instance_links(deps.settings.ds_links, executions)
    parts = {"versions": versions, "publish_records": records, "executions": executions}
    unavailable = [name for name, value in parts.items() if isinstance(value, _Missing)]
    return {
        **detail,
        **{name: None if isinstance(value, _Missing) else value for name, value in parts.items()},
        "ds_link": deps.settings.ds_links.workflow_definition(detail.get("project_code"), detail.get("workflow_code")),
        "unavailable": unavailable,
    }


# ----------------------------------------------------------------------------------------------------------------- runs


class PlatformOffline(Conflict):
    code = "platform-offline"
    title = "Workflow offline on the platform"


async def check_runnable(deps: Deps, workflow_ids: Sequence[int], caller: Caller) -> None:
    """A workflow offline on the platform gets no new instance (seed §6.3): 409 naming it; an unknown one is 404."""
    states = {int(w["id"]): w for w in (await deps.definition.workflow_states(workflow_ids, caller))["items"]}
    missing = [w for w in workflow_ids if w not in states]
    if missing:
        raise NotFound(f"workflow {', '.join(map(str, missing))} not found", workflow_ids=missing)
    offline = [w for w in workflow_ids if states[w]["status"] == "offline"]
    if offline:
        names = ", ".join(f"{w} ({states[w]['name']})" for w in offline)
        raise PlatformOffline(
            f"workflow {names} {'is' if len(offline) == 1 else 'are'} offline on the platform, which forbids new "
            "runs; put it online on the platform first (and publish it online in DolphinScheduler)",
            workflow_ids=offline,
        )


async def retry_publish(deps: Deps, record_id: int, caller: Caller, key: str | None) -> Json:
    """Retry a failed publish. An online one is refused while the workflow is offline on the platform or archived:
    it would make DolphinScheduler run what the platform stopped (publish it online after putting it online)."""
    record = await deps.publisher.get_publish_record(record_id, caller)
    if record["operation"] == "online":
        workflow_id = int(record["workflow_id"])
        [state] = (await deps.definition.workflow_states([workflow_id], caller))["items"] or [None]
        if state is not None and state["status"] in ("offline", "archived"):
            raise PlatformOffline(
                f"publish record {record_id} puts workflow {workflow_id} ({state['name']}) online in "
                f"DolphinScheduler, but the workflow is {state['status']} on the platform: "
                + ("put it online on the platform first" if state["status"] == "offline" else "it stays offline"),
                workflow_ids=[workflow_id],
                record_id=record_id,
            )
    return await deps.publisher.retry_publish(record_id, caller, key=key)


async def run_workflow(deps: Deps, workflow_id: int, body: Json, caller: Caller, key: str | None) -> Json:
    """Run now: refused while the workflow is offline on the platform; the publisher starts it once per key."""
    await check_runnable(deps, [workflow_id], caller)
    return await deps.publisher.run_workflow(workflow_id, body, caller, key=key)


async def batch_run(deps: Deps, body: Json, caller: Caller) -> Json:
    await check_runnable(deps, [int(w) for w in body["workflow_ids"]], caller)
    answer = await deps.publisher.batch_run(body, caller)
    links = deps.settings.ds_links
    for item in answer.get("results") or ():
        if isinstance(item, dict):
            found = (links.workflow_instance(item.get("project_code"), i) for i in item.get("instance_ids") or ())
            item["ds_links"] = [link for link in found if link is not None]
    return answer


# ---------------------------------------------------------------------------------------------------------------- tasks


async def list_tasks(deps: Deps, q: TaskListQuery, caller: Caller) -> Json:
    """One definition call: the definition service filters by dependency (its projection of lineage's view), pages,
    and answers each task with its owner, DS codes and dependency counts; the gateway adds the links and, from one
    history-sync call for the page's workflows, each task's metrics."""
    params: dict[str, str | int | None] = {
        "workflow_id": q.workflow_id,
        "upstream_task_id": q.upstream_task_id,
        "downstream_task_id": q.downstream_task_id,
        "name": q.name,
        "page": q.page,
        "page_size": q.page_size,
    }
    page = await deps.definition.list_tasks(params, None, caller)
    items, unavailable = await _enrich_tasks(deps, page.get("items", []), caller)
    page["items"] = items
    page["unavailable"] = unavailable
    return page


async def task_detail(deps: Deps, task_id: int, caller: Caller) -> Json:
    task = await deps.definition.get_task(task_id, caller)
    items, unavailable = await _enrich_tasks(deps, [task], caller, with_ids=True)
    return {**items[0], "unavailable": unavailable}


async def _enrich_tasks(
    deps: Deps, tasks: list[Json], caller: Caller, *, with_ids: bool = False
) -> tuple[list[Json], list[str]]:
    """Add the owning workflow (name, portal link, DS link), the lineage counts and the task-level metrics to each
    task."""
    if not tasks:
        return [], []
    ids = [int(t["id"]) for t in tasks]
    calls: dict[str, Awaitable[Json | _Missing]] = {}
    owners_known = all("workflow_id" in t and "workflow_name" in t for t in tasks)
    if not owners_known:
        calls["owners"] = optional("owners", deps.definition.task_owners(ids, caller))
    else:  # the usual list page: the metrics are asked for together with the rest
        calls["metrics"] = _task_metrics_part(deps, [t["workflow_id"] for t in tasks], caller)
    # the task list's answers carry the counts (definition's projection); the detail needs lineage's id lists
    if with_ids or not all("upstream_count" in t and "downstream_count" in t for t in tasks):
        calls["counts"] = optional("counts", deps.lineage.dependency_view(ids, caller))
    answers = await _concurrently(calls)
    owners_answer = answers.get("owners", {"owners": {}})
    counts_answer = answers["counts"] if "counts" in calls else _counts_of(tasks)
    unavailable: list[str] = []
    owners: dict[int, Json | None] = {}
    if isinstance(owners_answer, _Missing):
        unavailable.append("owners")
    else:
        owners = {int(k): v for k, v in owners_answer.get("owners", {}).items()}
    counts: dict[int, Json] = {}
    if isinstance(counts_answer, _Missing):
        unavailable.append("counts")
    else:
        counts = {int(r["task_id"]): r for r in counts_answer.get("items", [])}

    def owner_of(task: Json) -> Json | None:
        if "workflow_id" in task and "workflow_name" in task:
            if task["workflow_id"] is None:
                return None
            owner = {"workflow_id": task["workflow_id"], "workflow_name": task["workflow_name"]}
            if "workflow_code" in task and "project_code" in task:  # no extra call for the DS link
                owner |= {"workflow_code": task["workflow_code"], "project_code": task["project_code"]}
            return owner
        return owners.get(int(task["id"]))

    task_owners = [owner_of(t) for t in tasks]
    if "metrics" in calls:
        metrics_answer = answers["metrics"]
        codes, codes_missing = await _workflow_codes(deps, task_owners, caller)
    else:
        owner_ids = [o.get("workflow_id") if o else None for o in task_owners]
        metrics_answer, (codes, codes_missing) = await asyncio.gather(
            _task_metrics_part(deps, owner_ids, caller), _workflow_codes(deps, task_owners, caller)
        )
    if isinstance(metrics_answer, _Missing):
        unavailable.append("metrics")
        metrics_by_workflow: dict[int, Json] = {}
    else:
        metrics_by_workflow = {int(w["workflow_id"]): w for w in metrics_answer.get("workflows", [])}
    if codes_missing:
        unavailable.append("ds_links")
    counts_ok = not isinstance(counts_answer, _Missing)
    links = deps.settings.ds_links
    out: list[Json] = []
    for t, owner in zip(tasks, task_owners, strict=True):
        wid = int(owner["workflow_id"]) if owner and owner.get("workflow_id") is not None else None
        row = counts.get(int(t["id"]))
        project_code, workflow_code = codes.get(wid, (None, None)) if wid is not None else (None, None)
        item: Json = {
            **t,
            "workflow_id": wid,
            "workflow_name": owner.get("workflow_name") if owner else None,
            "upstream_count": (row["upstream_count"] if row else 0) if counts_ok else None,
            "downstream_count": (row["downstream_count"] if row else 0) if counts_ok else None,
            "workflow_link": workflow_link(wid),
            "ds_link": links.task(project_code, workflow_code, t.get("ds_task_code")),
            "metrics": metrics_of_task(t, metrics_by_workflow.get(wid)) if wid is not None else None,
        }
        if with_ids:
            item["upstream_task_ids"] = (list(row["upstream_task_ids"]) if row else []) if counts_ok else None
            item["downstream_task_ids"] = (list(row["downstream_task_ids"]) if row else []) if counts_ok else None
        out.append(item)
    return out, unavailable


async def _task_metrics_part(deps: Deps, workflow_ids: Sequence[Any], caller: Caller) -> Json | _Missing:
    """history-sync's task metrics of the tasks' workflows (one call; none without a workflow)."""
    wanted = sorted({int(w) for w in workflow_ids if w is not None})
    if not wanted:
        return {"workflows": []}
    return await optional("metrics", deps.history.task_metrics(wanted, caller))


async def _concurrently(calls: Mapping[str, Awaitable[T]]) -> dict[str, T]:
    """The answers of ``calls`` by name, awaited concurrently; a single call is awaited as it is (no task: the
    task list, the busiest page, usually needs only history-sync's task metrics)."""
    if len(calls) <= 1:
        return {name: await call for name, call in calls.items()}
    return dict(zip(calls, await asyncio.gather(*calls.values()), strict=True))


def _counts_of(tasks: Sequence[Json]) -> Json:
    """The counts the tasks carry, in the shape of lineage's dependency view."""
    return {
        "items": [
            {"task_id": t["id"], "upstream_count": t["upstream_count"], "downstream_count": t["downstream_count"]}
            for t in tasks
        ]
    }


async def _workflow_codes(
    deps: Deps, owners: Sequence[Json | None], caller: Caller
) -> tuple[dict[int, tuple[Any, Any]], bool]:
    """DolphinScheduler codes (project, workflow) of the owning workflows, for DS links: from the owner entry when it
    carries them, else from the workflow itself (bounded concurrency). Skipped when DS links are not configured."""
    if not deps.settings.ds_ui_url:
        return {}, False
    codes: dict[int, tuple[Any, Any]] = {}
    to_fetch: set[int] = set()
    for o in owners:
        if not o or o.get("workflow_id") is None:
            continue
        wid = int(o["workflow_id"])
        if "workflow_code" in o and "project_code" in o:
            codes[wid] = (o["project_code"], o["workflow_code"])
        else:
            to_fetch.add(wid)
    to_fetch -= codes.keys()
    if not to_fetch:
        return codes, False
    gate = asyncio.Semaphore(deps.settings.link_lookup_concurrency)

    async def fetch(wid: int) -> tuple[int, Json | _Missing]:
        async with gate:
            return wid, await optional("ds_links", deps.definition.get_workflow(wid, caller))

    missing = False
    for wid, wf in await asyncio.gather(*(fetch(w) for w in sorted(to_fetch))):
        if isinstance(wf, _Missing):
            missing = True
        else:
            codes[wid] = (wf.get("project_code"), wf.get("workflow_code"))
    return codes, missing
