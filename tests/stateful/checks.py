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
    "list_attention_matches_detail": (
        "found with this machine: the list's needs_attention (and its filter) agrees with the detail; today every "
        "workflow with a publish result is listed as needing attention (ds_attention is stored as JSON null, which "
        "the list's SQL 'ds_attention IS NOT NULL' counts, while the detail reads it as None)"
    ),
    "own_run_log_readable": (
        "found with this machine: a task log of one of the workflow's last 10 runs is readable through the workflow "
        "without instance_id, as the contract says (today 404 right after run now, until something refreshes "
        "history-sync's cache; the portal passes instance_id, which works)"
    ),
    "platform_offline_keeps_ds_offline": (
        "found with this machine: a workflow offline on the platform (or archived) stays OFFLINE in DS: neither the "
        "publisher's restore of a failed online publish nor a retry of one puts it ONLINE again"
    ),
    "ds_name_reuse_refused": (
        "found with this machine: a workflow named like another workflow's DS workflow (a name given up by a "
        'rename) is refused at publish (DS 10168, docs/lifecycle.md "Rename"); today its first deploy takes over '
        "the other's DS workflow and its publish record stays running"
    ),
}

#: defects being fixed now: remove a name when its fix is merged
PENDING_FIXES: frozenset[str] = frozenset()

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
