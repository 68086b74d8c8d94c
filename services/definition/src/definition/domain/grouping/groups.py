"""A group of unassigned tasks (one proposed workflow) and its stable name."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from definition.domain.dag import EdgePair

DEFAULT_MAX_SIZE = 200


#: components up to this many tasks are split with networkx's community detection and min-cut bisection; larger
#: ones with the linear greedy pass first
LOCAL_LIMIT = 2_000
_SEED = 0


@dataclass(frozen=True, slots=True)
class Group:
    """One proposed workflow's tasks."""

    #: sorted
    task_ids: tuple[int, ...]
    #: the lineage dependencies between its tasks, acyclic, sorted ``(upstream, downstream)``
    edges: tuple[EdgePair, ...]
    #: internal dependencies left out because they close a lineage cycle (the group cannot be accepted then)
    cycle_edges: tuple[EdgePair, ...] = ()
    #: one cycle (task path, first = last) per strongly connected part, to explain ``cycle_edges``
    cycles: tuple[tuple[int, ...], ...] = ()
    #: the size of the weakly connected component the group came from (larger than the group: it was split)
    component_size: int = 0

    @property
    def split(self) -> bool:
        return self.component_size > len(self.task_ids)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.task_ids)


def fingerprint(task_ids: Iterable[int]) -> str:
    """A stable name of a task set (sha1 of the sorted ids): a proposal is the same while its tasks are."""
    return hashlib.sha1(",".join(map(str, sorted(task_ids))).encode(), usedforsecurity=False).hexdigest()
