"""Drift: does the workflow in DolphinScheduler still hold what the platform deployed last?

Both sides are reduced to the same comparable content — workflow name, description, timeout and execution type;
per task code: name, type, description, flag, worker group, retries, timeout, delay and task parameters; the
relations — and hashed. The expected side comes from the last deployed definition (converted again from its publish
record; its ``content_hash`` must equal the deployed one), the actual side from DS's read-back. Task versions,
ids, times, ``locations`` and the ``resourceList`` that DS enriches are ignored; of the task parameters, only the
keys the platform sends are compared (DS may add its own defaults).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from common.dolphin import DagData, TaskDefinition
from publisher.domain.convert import DolphinWorkflowDefinition

_IGNORED_PARAMS = frozenset({"resourceList"})


@dataclass(frozen=True)
class DsContent:
    workflow: dict[str, Any]
    tasks: dict[int, dict[str, Any]]
    edges: frozenset[tuple[int, int]]

    def fingerprint(self) -> str:
        doc = {
            "workflow": self.workflow,
            "tasks": {str(k): v for k, v in sorted(self.tasks.items())},
            "edges": sorted(self.edges),
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _enum(v: Any) -> Any:
    return getattr(v, "value", v)


def _task(t: TaskDefinition, params_keys: frozenset[str] | None) -> dict[str, Any]:
    params = {k: v for k, v in t.task_params.items() if k not in _IGNORED_PARAMS}
    if params_keys is not None:
        params = {k: params.get(k) for k in params_keys}
    return {
        "name": t.name,
        "task_type": t.task_type,
        "description": t.description or "",
        "flag": _enum(t.flag),
        "worker_group": t.worker_group,
        "fail_retry_times": t.fail_retry_times or 0,
        "fail_retry_interval": t.fail_retry_interval or 0,
        "timeout": t.timeout or 0,
        "delay_time": t.delay_time or 0,
        "task_params": params,
    }


def expected_content(defn: DolphinWorkflowDefinition) -> DsContent:
    tasks = [TaskDefinition.model_validate(t) for t in json.loads(defn.task_definition_json)]
    edges = frozenset((int(r["preTaskCode"]), int(r["postTaskCode"])) for r in json.loads(defn.task_relation_json))
    return DsContent(
        workflow={
            "name": defn.name,
            "description": defn.description or "",
            "timeout": defn.timeout or 0,
            "execution_type": defn.execution_type,
        },
        tasks={t.code: _task(t, None) for t in tasks},
        edges=edges,
    )


def actual_content(dag: DagData, expected: DsContent) -> DsContent:
    """DS's read-back, reduced like ``expected`` (task parameters restricted to the keys the platform sent)."""
    wf = dag.workflow_definition
    tasks = {}
    for t in dag.task_definition_list:
        want = expected.tasks.get(t.code)
        tasks[t.code] = _task(t, frozenset(want["task_params"]) if want is not None else None)
    return DsContent(
        workflow={
            "name": wf.name,
            "description": wf.description or "",
            "timeout": wf.timeout or 0,
            "execution_type": _enum(wf.execution_type) or "PARALLEL",
        },
        tasks=tasks,
        edges=frozenset(dag.edges()),
    )


def differences(expected: DsContent, actual: DsContent, *, limit: int = 20) -> list[str]:
    """Human-readable differences (empty when DS holds exactly what was deployed)."""
    out: list[str] = []
    for k, v in expected.workflow.items():
        if actual.workflow.get(k) != v:
            out.append(f"workflow {k} is {actual.workflow.get(k)!r} in DS, deployed {v!r}")
    missing = sorted(set(expected.tasks) - set(actual.tasks))
    added = sorted(set(actual.tasks) - set(expected.tasks))
    if missing:
        out.append(f"tasks missing in DS: {missing}")
    if added:
        out.append(f"tasks added in DS: {added}")
    for code in sorted(set(expected.tasks) & set(actual.tasks)):
        want, got = expected.tasks[code], actual.tasks[code]
        changed = [k for k in want if k != "task_params" and want[k] != got[k]]
        changed += [
            f"task_params.{p}"
            for p in sorted(want["task_params"])
            if want["task_params"][p] != got["task_params"].get(p)
        ]
        if changed:
            out.append(f"task {code} ({want['name']}): {', '.join(changed)} changed in DS")
    if expected.edges != actual.edges:
        added_edges, removed_edges = len(actual.edges - expected.edges), len(expected.edges - actual.edges)
        out.append(f"relations differ: {added_edges} added, {removed_edges} removed in DS")
    return out[:limit]
