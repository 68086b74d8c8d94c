"""Grouping from scratch (``group_tasks``): which unassigned tasks belong together.

1. **Components.** Each weakly connected component of the unassigned tasks is a candidate workflow: tasks that
   exchange no table need not run together.
2. **Small enough**: a component of at most ``max_size`` tasks is one group.
3. **Split** a larger component along cuts that sever few dependencies, into parts whose cut dependencies never
   run in a circle (A → B and, directly or through other parts, B → A): the DEPENDENT links that keep the cut
   dependencies would make A and B wait for each other every period, a deadlock in DolphinScheduler.

   * every large component: **acyclic partitioning** (``_partition``): in topological order each task joins
     the part of its predecessor opened last while it has room, so every cut dependency runs forward; then the
     parts sharing the most dependencies are merged while they fit and the order holds (``_merge_forward``).
     Linear plus a sort. Steps 1-3 run over arrays indexed by task position: the dependencies, the components
     (scipy's sparse ``connected_components``; a union-find for small inputs), the pairs of parts and the groups are
     numpy operations, only the order (Kahn's algorithm assigning parts as it goes) and the merge are Python loops.
     No networkx graph: building one costs more than the whole partitioning
     (docs/decisions/0001-auto-orchestration-grouping.md);
   * up to ``LOCAL_LIMIT`` tasks also networkx's **Louvain** communities (modularity, fixed seed), communities too
     large **bisected** with Kernighan–Lin (a balanced minimum-cut bisection) and parts sharing dependencies merged
     back while they fit; taken instead when it keeps more dependencies inside AND its parts do not depend on each
     other in a circle.

   The severed dependencies stay: between proposals, each becomes a DEPENDENT link when the downstream side is
   accepted.
4. **Cycles.** Lineage can close a cycle (the lineage-resolver reports it; the platform never applies one): the edges
   inside a strongly connected part that go from a higher to a lower task id are set apart as ``cycle_edges`` (the
   rest is acyclic), with one cycle per part as ``cycles`` for the explanation.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from itertools import chain, pairwise, repeat
from typing import TypeVar

import networkx as nx
import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_array
from scipy.sparse.csgraph import connected_components

from definition.domain.dag import EdgePair
from definition.domain.grouping.groups import _SEED, DEFAULT_MAX_SIZE, LOCAL_LIMIT, Group

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
T = TypeVar("T")


@dataclass(slots=True)
class _Partition:
    """``group_tasks``' result over task positions (``id_array[i]`` is the task at position ``i``), as arrays."""

    id_array: Ints
    #: the positions in the order of their task ids (``_positions``)
    by_id: Ints
    #: each position's group, and per group: the size of the component it came from
    group_of: Ints
    component_size: list[int]
    #: every dependency between the tasks as positions ``src[k] → dst[k]``, also those left out of the order because
    #: they close a lineage cycle (``dropped``)
    src: Ints
    dst: Ints
    dropped: list[tuple[int, int]]
    #: the dependencies from tasks outside ``id_array``: upstream task ids and the positions they lead to
    foreign_up: Ints
    foreign_to: Ints

    @property
    def groups(self) -> int:
        return len(self.component_size)

    def cyclic(self) -> set[int]:
        """The groups holding a dependency that closes a lineage cycle."""
        gof = self.group_of
        return {int(gof[a]) for a, b in self.dropped if gof[a] == gof[b]}

    def positions(self, task_ids: Ints) -> tuple[Ints, Bools]:
        """``(positions, found)`` of ``task_ids`` (``found``: which of them are in ``id_array``)."""
        return _positions(self.id_array, self.by_id, task_ids)


def group_tasks(
    task_ids: Iterable[int], upstream: Mapping[int, Collection[int]], max_size: int = DEFAULT_MAX_SIZE
) -> list[Group]:
    """Partition ``task_ids`` into groups of at most ``max_size`` connected tasks (module docstring), sorted by their
    smallest task id."""
    p = _partition(task_ids, upstream, max_size)
    tasks, edges = _group_members(p)
    cyclic = p.cyclic()
    sizes = p.component_size
    groups = [
        _group(list(tasks[g]), list(edges[g]), sizes[g])
        if g in cyclic
        else Group(tasks[g], edges[g], component_size=sizes[g])
        for g in range(p.groups)
    ]
    groups.sort(key=lambda g: g.task_ids[0])
    return groups


def _group_members(p: _Partition) -> tuple[list[tuple[int, ...]], list[tuple[EdgePair, ...]]]:
    """Per group: its task ids sorted, and the dependencies between them (all of them, also those closing a lineage
    cycle) sorted, in bulk: sorted as arrays, cut into tuples."""
    ids, gof, n_groups = p.id_array, p.group_of, p.groups
    order = np.lexsort((ids, gof))
    tasks = _cut_by(ids[order].tolist(), np.bincount(gof, minlength=n_groups))
    gs = gof[p.src]
    inside = gs == gof[p.dst]
    gs, u, v = gs[inside], ids[p.src[inside]], ids[p.dst[inside]]
    order = np.lexsort((v, u, gs))
    gs, u, v = gs[order], u[order], v[order]
    if len(gs) > 1:  # the same dependency twice (``upstream`` listed it twice) is one edge
        keep = np.ones(len(gs), dtype=bool)
        keep[1:] = (gs[1:] != gs[:-1]) | (u[1:] != u[:-1]) | (v[1:] != v[:-1])
        gs, u, v = gs[keep], u[keep], v[keep]
    edges = _cut_by(list(zip(u.tolist(), v.tolist(), strict=True)), np.bincount(gs, minlength=n_groups))
    return tasks, edges


def _cut_by(items: list[T], counts: Ints) -> list[tuple[T, ...]]:
    """``items`` cut into consecutive tuples of ``counts`` items."""
    bounds = [0, *np.cumsum(counts).tolist()]
    return [tuple(items[a:b]) for a, b in pairwise(bounds)]


def _positions(id_array: Ints, by_id: Ints, task_ids: Ints) -> tuple[Ints, Bools]:
    """``(positions, found)`` of ``task_ids`` in ``id_array`` (``by_id``: its positions sorted by id); a position
    where ``found`` is false means nothing."""
    if not len(id_array):
        return np.zeros(len(task_ids), dtype=np.int64), np.zeros(len(task_ids), dtype=bool)
    sorted_ids = id_array[by_id]
    k = np.minimum(np.searchsorted(sorted_ids, task_ids), len(id_array) - 1)
    return by_id[k], sorted_ids[k] == task_ids


#: up to this many dependencies the components are found by a union-find in Python: scipy's sparse graph costs a fixed
#: ~0.2 ms, more than the whole union-find of the small regions the incremental upkeep groups again
SMALL_GRAPH = 2_000


def _components(n: int, src: Ints, dst: Ints, small: int = SMALL_GRAPH) -> Ints:
    """Each of ``n`` nodes' weakly connected component (labels ``0..k-1``) over the edges ``src[i] → dst[i]``."""
    if len(src) > small:
        graph = csr_array((np.ones(len(src), dtype=np.int32), (src, dst)), shape=(n, n))
        _, labels = connected_components(graph, directed=True, connection="weak")
        found: Ints = labels.astype(np.int64, copy=False)
        return found
    parent = list(range(n))
    for a, b in zip(src.tolist(), dst.tolist(), strict=True):
        while parent[a] != a:
            parent[a] = a = parent[parent[a]]
        while parent[b] != b:
            parent[b] = b = parent[parent[b]]
        if a != b:
            parent[max(a, b)] = min(a, b)
    label: dict[int, int] = {}
    out = []
    for i in range(n):
        r = i
        while parent[r] != r:
            r = parent[r]
        out.append(label.setdefault(r, len(label)))
    return np.array(out, dtype=np.int64)


def _partition(task_ids: Iterable[int], upstream: Mapping[int, Collection[int]], max_size: int) -> _Partition:
    """Steps 1-3 of the module docstring over arrays indexed by task position (no graph object: the per-node
    dictionaries of a networkx graph cost more than the whole partitioning). The dependencies, the components, the
    pairs of parts and the groups are array operations (numpy, scipy's ``connected_components``); the topological
    order and the merge stay loops."""
    if max_size < 1:
        raise ValueError("max_size must be at least 1")
    ids = list(dict.fromkeys(task_ids))
    n = len(ids)
    id_array = np.fromiter(ids, dtype=np.int64, count=n)
    by_id = np.argsort(id_array, kind="stable")
    # the dependencies: each task's upstream ids in one array, ``dst`` the position they lead to
    ups_of = list(map(upstream.get, ids, repeat(())))
    counts = np.fromiter(map(len, ups_of), dtype=np.int64, count=n)
    up_ids = np.fromiter(chain.from_iterable(ups_of), dtype=np.int64, count=int(counts.sum()))
    dst = np.repeat(np.arange(n, dtype=np.int64), counts)
    src, found = _positions(id_array, by_id, up_ids)
    foreign_up, foreign_to = up_ids[~found], dst[~found]
    internal = found & (src != dst)
    # in the order of their upstream task, then of the task they lead to (``dst`` is ascending already)
    order = np.argsort(src[internal], kind="stable")
    src, dst = src[internal][order], dst[internal][order]
    # 1. the weakly connected components
    labels = _components(n, src, dst)
    weight = np.bincount(labels)
    comp = labels.tolist()
    large = (weight[labels] > max_size).tolist()
    bounds = [0, *np.cumsum(np.bincount(src, minlength=n)).tolist()]
    flat = dst.tolist()
    succ = [flat[a:b] for a, b in pairwise(bounds)]
    indegree_array = np.bincount(dst, minlength=n)
    indegree = indegree_array.tolist()
    # 2./3. a topological order (Kahn, depth first so chains stay together) that gives each task its part as it goes:
    # a component that fits is one part; in a larger one a task joins the part of its predecessor opened last while
    # it has room, else opens a new part, so every dependency runs from a part to the same or a later one
    roots = np.flatnonzero(indegree_array == 0)
    ready = roots[np.argsort(id_array[roots])[::-1]].tolist()
    part = [-1] * n
    best = [-1] * n
    size: list[int] = []
    whole: dict[int, int] = {}
    dropped: list[tuple[int, int]] = []
    seen = 0
    while True:
        while ready:
            t = ready.pop()
            seen += 1
            if not large[t]:
                r = comp[t]
                p = whole.get(r, -1)
                if p < 0:
                    p = whole[r] = len(size)
                    size.append(0)
                size[p] += 1
            else:
                p = best[t]
                if p < 0 or size[p] >= max_size:
                    p = len(size)
                    size.append(1)
                else:
                    size[p] += 1
            part[t] = p
            for v in succ[t]:
                indegree[v] -= 1
                if p > best[v]:
                    best[v] = p
                if indegree[v] == 0:
                    ready.append(v)
        if seen == n:
            break
        # a lineage cycle: the edges inside a strongly connected part that go from a higher to a lower task id are
        # left out of the order (``_acyclic``), and the order goes on
        rest = [i for i in range(n) if indegree[i] > 0]
        digraph: nx.DiGraph[int] = nx.DiGraph()
        digraph.add_edges_from((a, b) for a in rest for b in succ[a])
        scc_of: dict[int, int] = {}
        for k, scc in enumerate(nx.strongly_connected_components(digraph)):
            if len(scc) > 1:
                scc_of.update(dict.fromkeys(scc, k))
        for a in rest:
            s = scc_of.get(a)
            if s is not None:
                keep = []
                for b in succ[a]:
                    if scc_of.get(b) == s and ids[a] > ids[b]:
                        dropped.append((a, b))
                        indegree[b] -= 1
                    else:
                        keep.append(b)
                succ[a] = keep
        ready = sorted((i for i in rest if indegree[i] == 0), key=ids.__getitem__, reverse=True)
    # a task without a predecessor opened a part of its own (about half the parts of a large component): it joins the
    # first part it leads to while that has room (nothing runs into it, so every dependency still runs forward)
    part_array = np.array(part, dtype=np.int64)
    size_array = np.array(size, dtype=np.int64)
    alone = (size_array[part_array] == 1) & (np.array(best, dtype=np.int64) < 0) & (np.diff(bounds) > 0)
    alone &= np.array(large, dtype=bool)
    for t in np.flatnonzero(alone).tolist():
        p = part[t]
        if size[p] == 1 and succ[t]:
            hi = min(part[w] for w in succ[t])
            if hi != p and size[hi] < max_size:
                part[t] = hi
                size[hi] += 1
                size[p] = 0
    # 3. merge parts sharing the most dependencies while they fit and the order holds (the dependencies set apart by a
    # lineage cycle take no part)
    part_array = np.array(part, dtype=np.int64)
    if dropped:
        order_src = np.repeat(np.arange(n, dtype=np.int64), np.fromiter(map(len, succ), dtype=np.int64, count=n))
        order_dst = np.fromiter(chain.from_iterable(succ), dtype=np.int64, count=len(order_src))
    else:
        order_src, order_dst = src, dst
    pa, pb = part_array[order_src], part_array[order_dst]
    between = pa != pb
    m = len(size)  # a pair of parts (a, b) as one key a * m + b
    keys, shared = np.unique(pa[between] * m + pb[between], return_counts=True)
    keys = keys[np.lexsort((keys, -shared))]  # the most shared first, then by the pair
    root = _merge_forward(keys // m, keys % m, size, max_size)
    # the groups, numbered in the order of their first task position (``_communities`` sees them in that order)
    merged = np.array(root, dtype=np.int64)[part_array] if n else part_array
    _, first, inverse = np.unique(merged, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    group_of = rank[inverse]
    group_comp = labels[np.sort(first)].tolist()
    mid = {r for r in group_comp if max_size < weight[r] <= LOCAL_LIMIT}
    if mid:
        members = [list(g) for g in _cut_by(np.argsort(group_of, kind="stable").tolist(), np.bincount(group_of))]
        groups, group_comp = _communities(ids, succ, members, group_comp, mid, max_size)
        for g, positions in enumerate(groups):
            group_of[positions] = g
    return _Partition(
        id_array=id_array,
        by_id=by_id,
        group_of=group_of,
        component_size=weight[group_comp].tolist(),
        src=src,
        dst=dst,
        dropped=dropped,
        foreign_up=foreign_up,
        foreign_to=foreign_to,
    )


def _communities(
    ids: list[int],
    succ: list[list[int]],
    groups: list[list[int]],
    group_comp: list[int],
    mid: set[int],
    max_size: int,
) -> tuple[list[list[int]], list[int]]:
    """For components of up to ``LOCAL_LIMIT`` tasks: networkx's Louvain communities (modularity, fixed seed),
    communities too large bisected with Kernighan–Lin, parts sharing dependencies merged back while they fit; taken
    instead of the acyclic parts when they keep more dependencies inside and do not depend on each other in a circle."""
    out: list[list[int]] = []
    out_comp: list[int] = []
    by_comp: dict[int, list[list[int]]] = {}
    for members, r in zip(groups, group_comp, strict=True):
        if r in mid:
            by_comp.setdefault(r, []).append(members)
        else:
            out.append(members)
            out_comp.append(r)
    for r, ordered_pos in by_comp.items():
        ordered = [[ids[i] for i in p] for p in ordered_pos]
        pred: dict[int, list[int]] = {}
        sub: nx.Graph[int] = nx.Graph()
        for p in ordered_pos:
            for a in p:
                sub.add_node(ids[a])
                for b in succ[a]:
                    pred.setdefault(ids[b], []).append(ids[a])
                    sub.add_edge(ids[a], ids[b])
        parts: list[list[int]] = []
        for c in nx.community.louvain_communities(sub, seed=_SEED):
            parts.extend(_bisect(sub, list(c), max_size))
        communities: list[list[int]] = []
        for p in _merge(sub.adj, parts, max_size):
            # a bisection may leave a part in pieces: each piece is a group of its own
            communities.extend(list(piece) for piece in nx.connected_components(sub.subgraph(p)))
        chosen = ordered_pos
        if not _circular(communities, pred) and _inside(communities, pred) >= _inside(ordered, pred):
            where = {ids[i]: i for p in ordered_pos for i in p}
            chosen = [[where[t] for t in p] for p in communities]
        out.extend(chosen)
        out_comp.extend([r] * len(chosen))
    return out, out_comp


def _group(tasks: list[int], edges: list[EdgePair], component_size: int) -> Group:
    # sorted: the cycle ``find_cycle`` names depends on the order of the edges
    kept, cut, cycles = _acyclic(tasks, sorted(set(edges)))
    return Group(
        task_ids=tuple(sorted(tasks)),
        edges=tuple(sorted(set(kept))),
        cycle_edges=tuple(sorted(set(cut))),
        cycles=cycles,
        component_size=component_size,
    )


def _acyclic(
    tasks: list[int], edges: list[EdgePair]
) -> tuple[list[EdgePair], list[EdgePair], tuple[tuple[int, ...], ...]]:
    """``(kept, cycle edges, cycles)``: Kahn's algorithm first (linear; lineage is acyclic nearly always); only
    when it finds a cycle, networkx's strongly connected components and ``find_cycle`` on the cyclic parts."""
    if not edges:
        return edges, [], ()
    indegree = dict.fromkeys(tasks, 0)
    succ: dict[int, list[int]] = {}
    for u, v in edges:
        indegree[v] += 1
        succ.setdefault(u, []).append(v)
    ready = [t for t, d in indegree.items() if d == 0]
    seen = 0
    while ready:
        t = ready.pop()
        seen += 1
        for v in succ.get(t, ()):
            indegree[v] -= 1
            if indegree[v] == 0:
                ready.append(v)
    if seen == len(tasks):
        return edges, [], ()
    digraph: nx.DiGraph[int] = nx.DiGraph(edges)
    scc_of: dict[int, int] = {}
    cycles: list[tuple[int, ...]] = []
    for i, scc in enumerate(nx.strongly_connected_components(digraph)):
        if len(scc) < 2:
            continue
        for t in scc:
            scc_of[t] = i
        path = [u for u, _ in nx.find_cycle(digraph.subgraph(scc))]
        k = path.index(min(path))  # from its smallest task: the same cycle reads the same
        path = path[k:] + path[:k]
        cycles.append((*path, path[0]))
    kept: list[EdgePair] = []
    cut: list[EdgePair] = []
    for u, v in edges:
        s = scc_of.get(u)
        if s is not None and s == scc_of.get(v) and u > v:
            cut.append((u, v))
        else:
            kept.append((u, v))
    cycles.sort()
    return kept, cut, tuple(cycles)


def _part_index(parts: list[list[int]]) -> dict[int, int]:
    return {t: i for i, p in enumerate(parts) for t in p}


def _inside(parts: list[list[int]], pred: Mapping[int, list[int]]) -> int:
    """How many dependencies the parts keep inside."""
    of = _part_index(parts)
    return sum(1 for t, i in of.items() for u in pred.get(t, ()) if of[u] == i)


def _circular(parts: list[list[int]], pred: Mapping[int, list[int]]) -> bool:
    """Whether the dependencies between the parts run in a circle."""
    of = _part_index(parts)
    links = {(of[u], i) for t, i in of.items() for u in pred.get(t, ()) if of[u] != i}
    return bool(circles(links))


def _neighbours(of: Ints, to: Ints, n: int, *, first: bool) -> tuple[list[set[int]], list[int]]:
    """For each of ``n`` parts the set of parts ``to[k]`` where ``of[k]`` is the part, and the smallest (``first``)
    or largest of them (``-1`` or ``n`` without any)."""
    order = np.lexsort((to, of))
    to = to[order]
    counts = np.bincount(of, minlength=n)
    ends_at = np.cumsum(counts)
    flat = to.tolist()
    sets = [set(flat[a:b]) for a, b in pairwise([0, *ends_at.tolist()])]
    ends = np.full(n, -1 if first else n, dtype=np.int64)
    some = counts > 0
    ends[some] = to[(ends_at - counts)[some]] if first else to[ends_at[some] - 1]
    return sets, ends.tolist()


def _merge_forward(lows: Ints, highs: Ints, size: list[int], max_size: int) -> list[int]:
    """Merge parts whose dependencies all run from lower to higher index (``_partition``): the pairs of parts
    ``lows[k] → highs[k]`` that share dependencies (each pair once), the most shared first, are merged while the union
    fits and the order holds:
    ``lo → hi`` merge into ``lo`` when every other predecessor of ``hi`` comes before ``lo``, or into ``hi`` when
    every other successor of ``lo`` comes after ``hi`` (then no other path joins them, so no circle forms). Returns
    each part's root (the part it was merged into), a topological order of the merged parts."""
    n = len(size)
    # each part's successors and predecessors as sets, and the first successor and last predecessor cached (``-1``,
    # ``n``: not known), made from the pairs sorted (array operations: no Python step per pair)
    succs, first_succ = _neighbours(lows, highs, n, first=True)
    preds, last_pred = _neighbours(highs, lows, n, first=False)
    size = list(size)
    root = list(range(n))

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    for a, b in zip(lows.tolist(), highs.tolist(), strict=True):
        lo = a if root[a] == a else find(a)
        hi = b if root[b] == b else find(b)
        # every dependency runs from a lower part to a higher one, and merging keeps it so: hi is among lo's
        # successors
        if lo == hi or size[lo] + size[hi] > max_size:
            continue
        # the other predecessors of hi all come before lo (the other successors of lo after hi) when lo is the last
        # of them (hi the first): no other path joins them; cached (the sets next to the hub tables hold thousands)
        last = last_pred[hi]
        if last == n:
            last = last_pred[hi] = max(preds[hi])
        if last == lo:
            keep, gone = lo, hi
        else:
            first = first_succ[lo]
            if first < 0:
                first = first_succ[lo] = min(succs[lo])
            if first != hi:
                continue
            keep, gone = hi, lo
        root[gone] = keep
        size[keep] += size[gone]
        gone_preds, gone_succs = preds[gone], succs[gone]
        preds[gone] = succs[gone] = set()
        for w in gone_preds:
            sw = succs[w]
            sw.discard(gone)
            sw.add(keep)
            first = first_succ[w]
            if first == gone:
                first_succ[w] = -1
            elif keep < first:
                first_succ[w] = keep
        for x in gone_succs:
            px = preds[x]
            px.discard(gone)
            px.add(keep)
            last = last_pred[x]
            if last == gone:
                last_pred[x] = n
            elif last < n and keep > last:
                last_pred[x] = keep
        keep_preds, keep_succs = preds[keep], succs[keep]
        keep_preds |= gone_preds
        keep_succs |= gone_succs
        keep_preds -= {keep, gone}
        keep_succs -= {keep, gone}
        first_succ[keep] = first_succ[gone] = -1
        last_pred[keep] = last_pred[gone] = n
    return [find(i) for i in range(len(size))]


def _bisect(graph: nx.Graph[int], nodes: list[int], max_size: int) -> list[list[int]]:
    """``nodes`` as parts of at most ``max_size``: halved along Kernighan–Lin minimum-cut bisections."""
    if len(nodes) <= max_size:
        return [nodes]
    a, b = nx.community.kernighan_lin_bisection(graph.subgraph(nodes), seed=_SEED)
    return _bisect(graph, list(a), max_size) + _bisect(graph, list(b), max_size)


def _merge(adj: Mapping[int, Iterable[int]], parts: list[list[int]], max_size: int) -> list[list[int]]:
    """Merge parts that share dependencies while the union fits, the pairs sharing the most first (connected parts
    stay connected: only parts with a dependency between them are merged)."""
    if len(parts) < 2:
        return parts
    part_of: dict[int, int] = {}
    for i, p in enumerate(parts):
        for t in p:
            part_of[t] = i
    shared: dict[tuple[int, int], int] = {}
    get = shared.get
    for i, p in enumerate(parts):
        if len(p) >= max_size:
            continue  # full: it cannot take anything (its pairs are counted from the other side)
        for t in p:
            for w in adj[t]:
                j = part_of[w]
                if j != i:
                    key = (i, j) if i < j else (j, i)
                    shared[key] = get(key, 0) + 1
    root = list(range(len(parts)))
    size = [len(p) for p in parts]

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    for (a, b), _ in sorted(shared.items(), key=lambda kv: (-kv[1], kv[0])):
        ra, rb = find(a), find(b)
        if ra != rb and size[ra] + size[rb] <= max_size:
            root[rb] = ra
            size[ra] += size[rb]
    out: dict[int, list[int]] = {}
    for i, p in enumerate(parts):
        out.setdefault(find(i), []).extend(p)
    return list(out.values())


def circles(links: Iterable[tuple[int, int]]) -> set[int]:
    """The nodes on a cycle of the directed ``links`` (strongly connected sets of two or more)."""
    graph: nx.DiGraph[int] = nx.DiGraph()
    graph.add_edges_from((a, b) for a, b in links if a != b)
    return {n for scc in nx.strongly_connected_components(graph) if len(scc) > 1 for n in scc}
