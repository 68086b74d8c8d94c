"""The checks of the lifecycle state machine that wait for a fix, by name.

Every check in ``CHECKS`` is written and runs, except those named in ``PENDING_FIXES``: those test a defect of issue
15 that is being fixed, and would fail on every run until the fix lands. While a name is pending, the machine accepts
the defect's current behaviour in its place (and keeps its model in step with what the platform did), so the rest of
the machine still runs. **When a fix is merged, delete its name from ``PENDING_FIXES``**; the check then has to pass.

``STATEFUL_ENFORCE=all`` (or a comma-separated list of names) runs pending checks anyway: that is how to see a
defect's minimal repro, or to try a fix before removing its name.
"""

from __future__ import annotations

import os

#: name -> what the check requires (and the issue 15 defect it waits for)
CHECKS: dict[str, str] = {
    "run_now_shows_in_executions": (
        "#4: after run now, GET /workflows/{id}/executions lists the new instance within seconds: run now makes the "
        "next read refresh (seed §6.4); history-sync's periodic sync is off in the machine's stack"
    ),
    "own_run_log_readable": (
        "#3/#4, found with this machine: the task log of a run started by run now is readable through its own "
        "workflow (today 404 'not part of a recent run' until history-sync's cache is refreshed)"
    ),
    "platform_offline_blocks_run": (
        "#6: run now and batch run of a workflow that is offline on the platform are a 409 and start no DS instance"
    ),
    "ds_workflow_stable": (
        "#8: a platform workflow keeps one DS workflow for life: its workflow_code never changes (a rename updates "
        "the same DS workflow) and DS holds no workflow of ours that no platform workflow points to"
    ),
    "migration_applies_lineage": (
        "#9: a migration that brings a task next to its lineage producer/consumer adds the lineage-derived edge "
        "(or its preview warns about that dependency)"
    ),
    "retry_respects_platform_offline": (
        "found while building this machine: a retry of a failed online publish is refused while the workflow is "
        "offline on the platform, as a fresh online publish is (today it puts DS ONLINE)"
    ),
}

#: defects being fixed now (issue 15): remove a name when its fix is merged
PENDING_FIXES: frozenset[str] = frozenset(
    {
        "run_now_shows_in_executions",
        "own_run_log_readable",
        "platform_offline_blocks_run",
        "ds_workflow_stable",
        "migration_applies_lineage",
        "retry_respects_platform_offline",
    }
)

assert CHECKS.keys() >= PENDING_FIXES, sorted(PENDING_FIXES - CHECKS.keys())


def _forced() -> frozenset[str]:
    raw = os.environ.get("STATEFUL_ENFORCE", "").strip()
    if raw == "all":
        return frozenset(CHECKS)
    names = frozenset(n.strip() for n in raw.split(",") if n.strip())
    unknown = names - CHECKS.keys()
    if unknown:
        raise ValueError(f"STATEFUL_ENFORCE names unknown checks {sorted(unknown)}; known: {sorted(CHECKS)}")
    return names


FORCED = _forced()


def enforced(name: str) -> bool:
    """True when the check ``name`` must hold in this run."""
    if name not in CHECKS:
        raise KeyError(name)
    return name not in PENDING_FIXES or name in FORCED
