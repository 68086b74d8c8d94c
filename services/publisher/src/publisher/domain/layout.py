"""Topological layering of the task graph: cycle check, roots and a simple deterministic UI layout."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from publisher.domain.errors import InvalidDag

#: Pixel geometry of the layout DS's UI draws from ``locations``.
X_ORIGIN = 100
Y_ORIGIN = 100
X_STEP = 240
Y_STEP = 100
_LOCATION = '{"taskCode":%d,"x":%d,"y":%d}'


@dataclass(frozen=True, slots=True)
class Layers:
    #: task_id -> layer (length of the longest path from a root; roots are 0)
    layer: dict[int, int]
    #: task ids with no upstream, ascending
    roots: list[int]


def topological_layers(task_ids: Sequence[int], edges: Iterable[tuple[int, int]]) -> Layers:
    """Layer the DAG with Kahn's algorithm; raise ``InvalidDag`` on a cycle.

    ``task_ids`` must be ascending and every edge endpoint must be one of them (the caller checks).
    """
    indegree = dict.fromkeys(task_ids, 0)
    downstream: dict[int, list[int]] = {tid: [] for tid in task_ids}
    for up, down in edges:
        downstream[up].append(down)
        indegree[down] += 1
    layer = dict.fromkeys(task_ids, 0)
    order = [tid for tid in task_ids if indegree[tid] == 0]
    roots = list(order)
    i = 0
    while i < len(order):
        up = order[i]
        i += 1
        next_layer = layer[up] + 1
        for down in downstream[up]:
            if layer[down] < next_layer:
                layer[down] = next_layer
            left = indegree[down] - 1
            indegree[down] = left
            if left == 0:
                order.append(down)
    if len(order) != len(indegree):
        stuck = sorted(tid for tid, deg in indegree.items() if deg > 0)
        shown = ", ".join(map(str, stuck[:20])) + (", ..." if len(stuck) > 20 else "")
        raise InvalidDag(f"the task graph has a cycle; tasks on or below it: {shown}", task_ids_in_or_below_cycle=stuck)
    return Layers(layer=layer, roots=roots)


def locations(task_ids: Sequence[int], layers: Layers, codes: dict[int, int]) -> str:
    """``[{taskCode, x, y}]`` as JSON text: x by layer, y by position in the layer (ascending task_id)."""
    next_row: dict[int, int] = {}
    parts: list[str] = []
    layer = layers.layer
    for tid in task_ids:
        col = layer[tid]
        row = next_row.get(col, 0)
        next_row[col] = row + 1
        parts.append(_LOCATION % (codes[tid], X_ORIGIN + col * X_STEP, Y_ORIGIN + row * Y_STEP))
    return "[" + ",".join(parts) + "]"
