"""Registration: the workflow a task's lineage points to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HomeSuggestion:
    workflow_id: int
    #: ``all_neighbours``: every producer and consumer of the task is in the workflow; ``all_producers``: every
    #: task whose tables it reads is (its consumers are elsewhere or none)
    reason: str
    upstream_task_ids: tuple[int, ...]
    downstream_task_ids: tuple[int, ...]


def suggest_home(producers: Mapping[int, int | None], consumers: Mapping[int, int | None]) -> HomeSuggestion | None:
    """The workflow a task's lineage points to: ``producers``/``consumers`` map the tasks it reads from / that read
    from it to their workflow (``None``: in none). All that are in a workflow are in one → that one
    (``all_neighbours``); else all producers in one → that one (``all_producers``); else none."""
    owned_up = {t: w for t, w in producers.items() if w is not None}
    owned_down = {t: w for t, w in consumers.items() if w is not None}
    homes = set(owned_up.values()) | set(owned_down.values())
    if len(homes) == 1:
        (home,) = homes
        reason = "all_neighbours"
    elif len(set(owned_up.values())) == 1:
        (home,) = set(owned_up.values())
        reason = "all_producers"
    else:
        return None
    return HomeSuggestion(
        workflow_id=home,
        reason=reason,
        upstream_task_ids=tuple(sorted(t for t, w in owned_up.items() if w == home)),
        downstream_task_ids=tuple(sorted(t for t, w in owned_down.items() if w == home)),
    )
