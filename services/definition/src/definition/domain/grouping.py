"""Proposing workflows for the tasks that are in none (issue 20): which unassigned tasks belong together, from the
lineage-derived task dependencies. Pure: no I/O; networkx does the graph algorithms.

Public API
----------
``group_tasks(task_ids, upstream, max_size) -> list[Group]``
    Partition ``task_ids`` (unassigned tasks) into groups; ``upstream`` maps a task to the tasks it depends on
    (lineage; ids outside ``task_ids`` are ignored). Every task lands in exactly one group; no group has more than
    ``max_size`` tasks; every group is weakly connected; a group's ``edges`` are its internal dependencies and are
    acyclic (a lineage cycle's closing edges are set apart in ``cycle_edges``, and the group cannot be accepted);
    the dependencies cut between groups never run in a circle between groups (see step 3).
``propose(unassigned, upstream, workflow_of, ...) -> list[Proposal]``
    The groups as proposals with their reasons: new workflows, or, for a lone task whose producers and consumers
    are all in one existing workflow, an addition to it; the tables per edge and the dependencies that cross the
    proposal's boundary (each kept as a DEPENDENT link).
``ProposalBook``
    Groups kept up to date incrementally (``update``) after dependency or assignment changes: only the groups a
    change breaks are formed again (``affected``).
``suggest_home(producers, consumers) -> HomeSuggestion | None``
    The workflow a task's lineage points to.

The algorithm
-------------
1. **Components.** Each weakly connected component of the unassigned tasks is a candidate workflow: tasks that
   exchange no table need not run together.
2. **Small enough**: a component of at most ``max_size`` tasks is one group.
3. **Split** a larger component along cuts that sever few dependencies, into parts whose cut dependencies never
   run in a circle (A → B and, directly or through other parts, B → A): the DEPENDENT links that keep the cut
   dependencies would make A and B wait for each other every period, a deadlock in DolphinScheduler.

   * every large component: **acyclic partitioning** (``_partition``): in topological order each task joins
     the part of its predecessor opened last while it has room, so every cut dependency runs forward; then the
     parts sharing the most dependencies are merged while they fit and the order holds (``_merge_forward``).
     Linear plus a sort. Steps 1-3 run in one pass over arrays indexed by task position (components by union-find,
     the order by Kahn's algorithm assigning parts as it goes), without a networkx graph: building one costs more
     than the whole partitioning (bench_auto_orchestration.py);
   * up to ``LOCAL_LIMIT`` tasks also networkx's **Louvain** communities (modularity, fixed seed), communities too
     large **bisected** with Kernighan–Lin (a balanced minimum-cut bisection) and parts sharing dependencies merged
     back while they fit; taken instead when it keeps more dependencies inside AND its parts do not depend on each
     other in a circle. networkx's exact minimum cuts do not fit: the global one (Stoer–Wagner) cuts off single
     tasks, and s–t cuts need a source and a sink nobody can name. On the lineage benchmark's data the first
     version (Louvain / greedy growing without the order, then re-chunking the circles in topological order) kept
     2.4 % of the dependencies inside a proposal; the acyclic partitioning keeps 46 % (unconstrained: 50 %).

   The severed dependencies stay: between proposals, each becomes a DEPENDENT link when the downstream side is
   accepted.
4. **Incremental upkeep** (``ProposalBook.update``, the service's ``_refresh_proposals``): groups stay as they are
   unless a change breaks them (``affected``): a group that lost a task or an inner dependency is formed again as its
   connected pieces, a new task is a group of its own, a dependency added between two groups merges them when they
   fit together and no other path joins them, and one that closes a circle of cut dependencies regroups the groups
   on that circle together. The quality drifts from a rebuild's; ``POST /internal/proposals/rebuild`` repairs it.
5. **Cycles.** Lineage can close a cycle (the lineage-resolver reports it; the platform never applies one): the edges
   inside a strongly connected part that go from a higher to a lower task id are set apart as ``cycle_edges`` (the
   rest is acyclic), with one cycle per part as ``cycles`` for the explanation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

import networkx as nx

from common.workflow import DependentCycle
from definition.domain.dag import EdgePair

__all__ = [
    "DEFAULT_MAX_SIZE",
    "LOCAL_LIMIT",
    "Change",
    "CrossDependency",
    "Group",
    "HomeSuggestion",
    "Proposal",
    "ProposalBook",
    "ProposalKind",
    "affected",
    "circles",
    "dependent_period",
    "explain",
    "fingerprint",
    "group_tasks",
    "invert",
    "propose",
    "suggest_home",
]

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


# ---------------------------------------------------------------------------------------------------------------
# Grouping


@dataclass(slots=True)
class _Partition:
    """``group_tasks``' result over task positions (``ids[i]`` is the task at position ``i``)."""

    ids: list[int]
    index: dict[int, int]
    #: the groups' task positions, and each position's group
    groups: list[list[int]]
    group_of: list[int]
    #: per group: the size of the component it came from
    component_size: list[int]
    #: the dependencies in the topological order (``succ[i]``) and those left out because they close a lineage cycle
    succ: list[list[int]]
    dropped: list[tuple[int, int]]


def group_tasks(
    task_ids: Iterable[int], upstream: Mapping[int, Iterable[int]], max_size: int = DEFAULT_MAX_SIZE
) -> list[Group]:
    """Partition ``task_ids`` into groups of at most ``max_size`` connected tasks (module docstring), sorted by their
    smallest task id."""
    groups = _groups(_partition(task_ids, upstream, max_size))
    groups.sort(key=lambda g: g.task_ids[0])
    return groups


def _groups(p: _Partition, inside: list[list[EdgePair]] | None = None) -> list[Group]:
    """The partition's groups in its order; ``inside``: each group's internal dependencies (all of them, also those
    closing a lineage cycle), when the caller collected them already."""
    ids, gof = p.ids, p.group_of
    if inside is None:
        inside = [[] for _ in p.groups]
        for a, succ in enumerate(p.succ):
            g = gof[a]
            ta = ids[a]
            for b in succ:
                if gof[b] == g:
                    inside[g].append((ta, ids[b]))
        for a, b in p.dropped:
            if gof[a] == gof[b]:
                inside[gof[a]].append((ids[a], ids[b]))
    cyclic = {gof[a] for a, b in p.dropped if gof[a] == gof[b]}
    out: list[Group] = []
    for g, members in enumerate(p.groups):
        tasks = sorted(ids[i] for i in members)
        if g in cyclic:
            out.append(_group(tasks, inside[g], p.component_size[g]))
        else:
            out.append(Group(tuple(tasks), tuple(sorted(set(inside[g]))), component_size=p.component_size[g]))
    return out


def _partition(task_ids: Iterable[int], upstream: Mapping[int, Iterable[int]], max_size: int) -> _Partition:
    """Steps 1-3 of the module docstring in one pass over arrays indexed by task position (no graph object: the
    per-node dictionaries of a networkx graph cost more than the whole partitioning)."""
    if max_size < 1:
        raise ValueError("max_size must be at least 1")
    ids = list(dict.fromkeys(task_ids))
    n = len(ids)
    index = {t: i for i, t in enumerate(ids)}
    # the dependencies as successor lists, and 1. the weakly connected components (union-find by size, path
    # halving), in one pass
    succ: list[list[int]] = [[] for _ in range(n)]
    indegree = [0] * n
    parent = list(range(n))
    weight = [1] * n
    get, iget = upstream.get, index.get
    for i, t in enumerate(ids):
        ups = get(t)
        if not ups:
            continue
        for u in ups:
            j = iget(u)
            if j is None or j == i:
                continue
            succ[j].append(i)
            indegree[i] += 1
            a, b = i, j
            while parent[a] != a:
                parent[a] = a = parent[parent[a]]
            while parent[b] != b:
                parent[b] = b = parent[parent[b]]
            if a != b:
                if weight[a] < weight[b]:
                    a, b = b, a
                parent[b] = a
                weight[a] += weight[b]
    comp = parent
    for i in range(n):
        r = i
        while comp[r] != r:
            r = comp[r]
        comp[i] = r
    # 2./3. a topological order (Kahn, depth first so chains stay together) that gives each task its part as it goes:
    # a component that fits is one part; in a larger one a task joins the part of its predecessor opened last while
    # it has room, else opens a new part, so every dependency runs from a part to the same or a later one
    ready = sorted((i for i in range(n) if indegree[i] == 0), key=ids.__getitem__, reverse=True)
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
            r = comp[t]
            if weight[r] <= max_size:
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
    # 3. merge parts sharing the most dependencies while they fit and the order holds
    shared: dict[tuple[int, int], int] = {}
    sget = shared.get
    for a in range(n):
        pa = part[a]
        for b in succ[a]:
            pb = part[b]
            if pa != pb:
                key = (pa, pb)
                shared[key] = sget(key, 0) + 1
    root = _merge_forward(shared, size, max_size)
    final: dict[int, int] = {}
    groups: list[list[int]] = []
    group_comp: list[int] = []
    group_of = part
    for i in range(n):
        r = root[part[i]]
        g = final.get(r, -1)
        if g < 0:
            g = final[r] = len(groups)
            groups.append([])
            group_comp.append(comp[i])
        groups[g].append(i)
        group_of[i] = g
    mid = {r for r in group_comp if max_size < weight[r] <= LOCAL_LIMIT}
    if mid:
        groups, group_comp = _communities(ids, succ, groups, group_comp, mid, max_size)
        for g, members in enumerate(groups):
            for i in members:
                group_of[i] = g
    return _Partition(ids, index, groups, group_of, [weight[r] for r in group_comp], succ, dropped)


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


def _merge_forward(shared: dict[tuple[int, int], int], size: list[int], max_size: int) -> list[int]:
    """Merge parts whose dependencies (``shared``: how many per pair of parts) all run from lower to higher index
    (``_partition``), the pairs sharing the most dependencies first, while the union fits and the order holds:
    ``lo → hi`` merge into ``lo`` when every other predecessor of ``hi`` comes before ``lo``, or into ``hi`` when
    every other successor of ``lo`` comes after ``hi`` (then no other path joins them, so no circle forms). Returns
    each part's root (the part it was merged into), a topological order of the merged parts."""
    preds: dict[int, set[int]] = {}
    succs: dict[int, set[int]] = {}
    for a, b in shared:
        preds.setdefault(b, set()).add(a)
        succs.setdefault(a, set()).add(b)
    size = list(size)
    root = list(range(len(size)))
    empty: set[int] = set()
    first_succ: dict[int, int] = {}
    last_pred: dict[int, int] = {}

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    pairs = sorted(shared)
    pairs.sort(key=shared.__getitem__, reverse=True)  # the most shared first, stable: then by the pair
    for a, b in pairs:
        lo, hi = find(a), find(b)
        if lo == hi or size[lo] + size[hi] > max_size:
            continue
        if lo > hi:
            lo, hi = hi, lo
        succ_lo = succs.get(lo, empty)
        if hi not in succ_lo:
            continue
        # lo is among hi's predecessors and hi among lo's successors: the others all come before lo (after hi)
        # when lo is the last of them (hi the first); the last predecessor and first successor are cached (the sets
        # next to the hub tables hold thousands)
        last = last_pred.get(hi)
        if last is None:
            last = last_pred[hi] = max(preds[hi])
        if last == lo:
            keep, gone = lo, hi
        else:
            first = first_succ.get(lo)
            if first is None:
                first = first_succ[lo] = min(succ_lo)
            if first != hi:
                continue
            keep, gone = hi, lo
        root[gone] = keep
        size[keep] += size[gone]
        keep_preds = preds.setdefault(keep, set())
        keep_succs = succs.setdefault(keep, set())
        for w in preds.pop(gone, empty):
            sw = succs[w]
            sw.discard(gone)
            if w != keep:
                sw.add(keep)
                keep_preds.add(w)
                first = first_succ.get(w)
                if first == gone:
                    del first_succ[w]
                elif first is not None and keep < first:
                    first_succ[w] = keep
        for x in succs.pop(gone, empty):
            px = preds[x]
            px.discard(gone)
            if x != keep:
                px.add(keep)
                keep_succs.add(x)
                last = last_pred.get(x)
                if last == gone:
                    del last_pred[x]
                elif last is not None and keep > last:
                    last_pred[x] = keep
        keep_preds -= {keep, gone}
        keep_succs -= {keep, gone}
        for cache in (first_succ, last_pred):
            cache.pop(keep, None)
            cache.pop(gone, None)
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


# ---------------------------------------------------------------------------------------------------------------
# Incremental upkeep


@dataclass(frozen=True, slots=True)
class Change:
    """What changed for the unassigned tasks' groups: dependencies that appeared or went, tasks that became
    unassigned (``joined``: new, or taken out of a workflow) or stopped being (``left``: put in a workflow, deleted),
    and tasks whose workflow changed otherwise (``moved``: their neighbours' proposals name it)."""

    added: tuple[EdgePair, ...] = ()
    removed: tuple[EdgePair, ...] = ()
    joined: tuple[int, ...] = ()
    left: tuple[int, ...] = ()
    moved: tuple[int, ...] = ()


def affected(
    change: Change,
    group_of: Callable[[int], int | None],
    neighbours: Callable[[int], Iterable[int]],
) -> tuple[set[int], set[int], list[EdgePair]]:
    """The least regrouping a change needs (decision: the groups stay as they are unless a change breaks them; a
    rebuild repairs the drift in quality):

    * ``dirty`` groups are formed again from their own tasks, as connected pieces (never split further, never
      merged): a group that lost a task or an inner dependency may have fallen apart, one that gained an inner
      dependency has other edges, one next to a task whose workflow changed has other reasons. Splitting a group
      into pieces cannot close a circle between groups (the pieces have no dependency between them). The groups
      at both ends of every dependency that came or went are dirty;
    * ``lone`` tasks (joined and in no group) become groups of their own;
    * ``cross`` dependencies now run between two groups (added ones, and those of the joined tasks): the caller
      merges the two groups when they fit together and no other path joins them, else checks whether the
      dependency closed a circle (then the groups on it are regrouped together).
    Returns ``(dirty, lone, cross)``."""
    dirty: set[int] = set()
    cross: list[EdgePair] = []
    for t in change.left:
        if (g := group_of(t)) is not None:
            dirty.add(g)
    for t in change.moved:
        dirty.update(g for w in neighbours(t) if (g := group_of(w)) is not None)
    for u, v in (*change.removed, *change.added):
        # inside a group: its edges (and maybe its connectedness) changed; across: the reasons of both ends'
        # groups (their cut dependencies, the workflow a lone task joins) did
        dirty.update(g for g in (group_of(u), group_of(v)) if g is not None)
    for u, v in change.added:
        gu, gv = group_of(u), group_of(v)
        if gu is not None and gv is not None and gu != gv:
            cross.append((u, v))
    lone = {t for t in change.joined if group_of(t) is None}
    return dirty, lone, cross


@dataclass
class ProposalBook:
    """Groups of unassigned tasks kept up to date in memory (benchmarks, property tests); the service keeps the same
    groups in PostgreSQL with the same steps (``affected``, pieces, circle check)."""

    max_size: int = DEFAULT_MAX_SIZE
    groups: dict[int, Group] = field(default_factory=dict)
    group_of: dict[int, int] = field(default_factory=dict)
    _next: int = 1

    def rebuild(self, unassigned: Iterable[int], upstream: Mapping[int, Iterable[int]]) -> None:
        self.groups.clear()
        self.group_of.clear()
        self._add(group_tasks(unassigned, upstream, self.max_size))

    def _add(self, groups: Iterable[Group]) -> list[int]:
        ids = []
        for g in groups:
            gid = self._next
            self._next += 1
            self.groups[gid] = g
            for t in g.task_ids:
                self.group_of[t] = gid
            ids.append(gid)
        return ids

    def update(
        self,
        change: Change,
        *,
        unassigned: Collection[int],
        upstream: Mapping[int, Iterable[int]],
        downstream: Mapping[int, Iterable[int]],
    ) -> list[int]:
        """Apply a change (``affected``); returns the ids of the groups it created."""

        def neighbours(t: int) -> Iterable[int]:
            return (*upstream.get(t, ()), *downstream.get(t, ()))

        dirty, lone, cross = affected(change, self.group_of.get, neighbours)
        new: list[int] = []
        for gid in dirty:
            tasks = [t for t in self.groups[gid].task_ids if t in unassigned]
            new += self._regroup(tasks, [gid], unassigned, upstream)
        lone = {t for t in lone if t in unassigned}
        new += self._regroup(lone, [], unassigned, upstream)
        cross += [(u, t) for t in lone for u in upstream.get(t, ())] + [
            (t, d) for t in lone for d in downstream.get(t, ())
        ]
        for u, v in cross:
            a, b = self.group_of.get(u), self.group_of.get(v)
            if a is None or b is None or a == b:
                continue
            if len(self.groups[a].task_ids) + len(self.groups[b].task_ids) <= self.max_size:
                # the two groups now depend on each other: one group, unless another path joins them (a circle)
                succ = (self._linked(a, downstream) | self._linked(b, downstream)) - {a, b}
                pred = (self._linked(a, upstream) | self._linked(b, upstream)) - {a, b}
                if not self._reaches(succ, pred, upstream, downstream):
                    both = [*self.groups[a].task_ids, *self.groups[b].task_ids]
                    new = [g for g in new if g not in (a, b)] + self._regroup(both, [a, b], unassigned, upstream)
                    continue
            if not self._reaches({b}, {a}, upstream, downstream):
                continue
            tangled = self._circle(a, upstream, downstream)
            members = {t for g in tangled for t in self.groups[g].task_ids}
            new = [g for g in new if g not in tangled] + self._regroup(members, tangled, unassigned, upstream)
        return [g for g in new if g in self.groups]

    def _regroup(
        self,
        region: Iterable[int],
        gids: Iterable[int],
        unassigned: Collection[int],
        upstream: Mapping[int, Iterable[int]],
    ) -> list[int]:
        for gid in gids:
            for t in self.groups.pop(gid).task_ids:
                if self.group_of.get(t) == gid:
                    del self.group_of[t]
        return self._add(group_tasks((t for t in region if t in unassigned), upstream, self.max_size))

    def _linked(self, g: int, links: Mapping[int, Iterable[int]]) -> set[int]:
        return {h for t in self.groups[g].task_ids for w in links.get(t, ()) if (h := self.group_of.get(w)) is not None}

    def _reaches(
        self,
        src: set[int],
        dst: set[int],
        upstream: Mapping[int, Iterable[int]],
        downstream: Mapping[int, Iterable[int]],
    ) -> bool:
        """Whether cut dependencies lead from a group of ``src`` to one of ``dst``: searched from both ends at once,
        the smaller frontier first (a group's downstream closure can be most of the graph, its upstream one small,
        or the other way round)."""
        if src & dst:
            return True
        ahead, behind = set(src), set(dst)
        fwd, bwd = list(src), list(dst)
        while fwd and bwd:
            if len(fwd) <= len(bwd):
                nxt = []
                for g in fwd:
                    for h in self._linked(g, downstream):
                        if h in behind:
                            return True
                        if h not in ahead:
                            ahead.add(h)
                            nxt.append(h)
                fwd = nxt
            else:
                nxt = []
                for g in bwd:
                    for h in self._linked(g, upstream):
                        if h in ahead:
                            return True
                        if h not in behind:
                            behind.add(h)
                            nxt.append(h)
                bwd = nxt
        return False

    def _circle(
        self, start: int, upstream: Mapping[int, Iterable[int]], downstream: Mapping[int, Iterable[int]]
    ) -> set[int]:
        """The groups on a circle through ``start``: reachable from it and reaching it."""

        def reach(links: Mapping[int, Iterable[int]]) -> set[int]:
            seen, stack = {start}, [start]
            while stack:
                for h in self._linked(stack.pop(), links):
                    if h not in seen:
                        seen.add(h)
                        stack.append(h)
            return seen

        return reach(downstream) & reach(upstream)


# ---------------------------------------------------------------------------------------------------------------
# Proposals: groups as new workflows, lone tasks as additions to an existing one, each with its reasons


class ProposalKind(StrEnum):
    NEW_WORKFLOW = "new_workflow"
    ADD_TO_WORKFLOW = "add_to_workflow"


class CrossDependency(NamedTuple):
    """A lineage dependency between a proposal's task and a task outside it, and how it will be kept: the
    downstream workflow carries a DEPENDENT task waiting for ``upstream_task_id`` (``kept_as`` =
    ``dependent_link``); the link can be made once both ends are in workflows."""

    upstream_task_id: int
    downstream_task_id: int
    #: the workflow the outside end is in (``None``: in none yet, another proposal holds it)
    other_workflow_id: int | None
    #: ``upstream``: the outside task is the upstream end (this proposal's workflow will wait for it)
    outside: str
    kept_as: str = "dependent_link"


@dataclass(frozen=True, slots=True)
class Proposal:
    kind: ProposalKind
    task_ids: tuple[int, ...]
    #: the dependencies the workflow will hold as edges (for an addition: between the task and the workflow's tasks)
    edges: tuple[EdgePair, ...]
    #: ``ADD_TO_WORKFLOW``: the workflow the task joins
    workflow_id: int | None = None
    cycle_edges: tuple[EdgePair, ...] = ()
    cycles: tuple[tuple[int, ...], ...] = ()
    component_size: int = 0
    #: the tables that tie the tasks together, per edge (``(upstream, downstream, tables)``; empty when not known)
    edge_tables: tuple[tuple[int, int, tuple[str, ...]], ...] = ()
    #: dependencies to tasks outside the proposal (cut by a split, or to existing workflows)
    cross: tuple[CrossDependency, ...] = ()

    @property
    def split(self) -> bool:
        """Whether its tasks depend on tasks of other proposals (it was cut out of a larger connected group)."""
        return self.component_size > len(self.task_ids) or any(c.other_workflow_id is None for c in self.cross)

    @property
    def fingerprint(self) -> str:
        key = fingerprint(self.task_ids)
        return key if self.workflow_id is None else f"{key}@{self.workflow_id}"

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(sorted({t for *_, ts in self.edge_tables for t in ts}))


def propose(
    unassigned: Iterable[int],
    upstream: Mapping[int, Iterable[int]],
    workflow_of: Mapping[int, int],
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    edge_tables: Mapping[EdgePair, Iterable[str]] | None = None,
) -> list[Proposal]:
    """The proposals for ``unassigned`` tasks: ``group_tasks`` groups become new workflows, except a lone task whose
    producers and consumers are all in one existing workflow (``workflow_of``), which is proposed as an addition to
    it. Every unassigned task lands in exactly one proposal."""
    tasks = set(unassigned)
    p = _partition(tasks, upstream, max_size)
    # each group's inner dependencies and those that cross its boundary, in one pass over ``upstream``
    inside: list[list[EdgePair]] = [[] for _ in p.groups]
    outside: list[list[EdgePair]] = [[] for _ in p.groups]
    iget, gof = p.index.get, p.group_of
    for t, ups in upstream.items():
        i = iget(t)
        if i is None:
            for u in ups:
                j = iget(u)
                if j is not None:
                    outside[gof[j]].append((u, t))
        else:
            g = gof[i]
            for u in ups:
                if u != t:
                    j = iget(u)
                    if j is None:
                        outside[g].append((u, t))
                    elif (h := gof[j]) == g:
                        inside[g].append((u, t))
                    else:
                        outside[g].append((u, t))
                        outside[h].append((u, t))
    proposals = [
        _proposal(group, sorted(set(cross)), tasks, workflow_of, edge_tables)
        for group, cross in zip(_groups(p, inside), outside, strict=True)
    ]
    proposals.sort(key=lambda x: x.task_ids[0])
    return proposals


def invert(upstream: Mapping[int, Iterable[int]]) -> dict[int, list[int]]:
    """``downstream`` from ``upstream``."""
    down: dict[int, list[int]] = {}
    for t, ups in upstream.items():
        for u in ups:
            if u != t:
                down.setdefault(u, []).append(t)
    return down


def explain(
    group: Group,
    unassigned: Collection[int],
    upstream: Mapping[int, Iterable[int]],
    downstream: Mapping[int, Iterable[int]],
    workflow_of: Mapping[int, int],
    edge_tables: Mapping[EdgePair, Iterable[str]] | None = None,
) -> Proposal:
    """One group as a proposal, with its reasons (``propose``)."""
    members = set(group.task_ids)
    outside_edges = sorted(
        {(u, t) for t in members for u in upstream.get(t, ()) if u not in members and u != t}
        | {(t, d) for t in members for d in downstream.get(t, ()) if d not in members and d != t}
    )
    return _proposal(group, outside_edges, unassigned, workflow_of, edge_tables)


def _proposal(
    group: Group,
    outside_edges: list[EdgePair],
    unassigned: Collection[int],
    workflow_of: Mapping[int, int],
    edge_tables: Mapping[EdgePair, Iterable[str]] | None,
) -> Proposal:
    members = set(group.task_ids)
    if len(members) == 1 and outside_edges:
        homes = {workflow_of.get(u if u not in members else d) for u, d in outside_edges}
        if len(homes) == 1 and None not in homes:
            (home,) = homes
            return Proposal(
                kind=ProposalKind.ADD_TO_WORKFLOW,
                task_ids=group.task_ids,
                edges=tuple(outside_edges),
                workflow_id=home,
                component_size=group.component_size,
                edge_tables=_tables(outside_edges, edge_tables),
            )
    cross: list[CrossDependency] = []
    for u, d in outside_edges:
        if u in members:
            if d in unassigned or d in workflow_of:
                cross.append(CrossDependency(u, d, workflow_of.get(d), "downstream"))
        elif u in unassigned or u in workflow_of:
            cross.append(CrossDependency(u, d, workflow_of.get(u), "upstream"))
    return Proposal(
        kind=ProposalKind.NEW_WORKFLOW,
        task_ids=group.task_ids,
        edges=group.edges,
        cycle_edges=group.cycle_edges,
        cycles=group.cycles,
        component_size=group.component_size,
        edge_tables=_tables(group.edges, edge_tables),
        cross=tuple(cross),
    )


def _tables(
    edges: Iterable[EdgePair], edge_tables: Mapping[EdgePair, Iterable[str]] | None
) -> tuple[tuple[int, int, tuple[str, ...]], ...]:
    if not edge_tables:
        return ()
    return tuple((u, v, tuple(sorted(edge_tables.get((u, v), ())))) for u, v in edges)


def circles(links: Iterable[tuple[int, int]]) -> set[int]:
    """The nodes on a cycle of the directed ``links`` (strongly connected sets of two or more)."""
    graph: nx.DiGraph[int] = nx.DiGraph()
    graph.add_edges_from((a, b) for a, b in links if a != b)
    return {n for scc in nx.strongly_connected_components(graph) if len(scc) > 1 for n in scc}


def dependent_period(crontab: str | None) -> tuple[DependentCycle, str, str | None]:
    """The DEPENDENT ``cycle`` and ``dateValue`` that wait for the upstream workflow's run of the current period, by
    its schedule (Quartz: second minute hour day-of-month month day-of-week [year]), and a note when none fits.

    An upstream that runs every hour (or more often) → the current hour; daily, or without a schedule → today.
    DS checks every day of ``thisWeek``/``thisMonth`` (``DependentUtils.getDateIntervalList``), so no value waits
    for "this week's (month's) one run": for an upstream that runs on given days of the week or month the link
    waits for ``today`` and the note asks a person to choose (``lastMonday`` …, ``thisMonthBegin``, …)."""
    fields = crontab.split() if crontab else []
    if len(fields) < 6:
        return DependentCycle.DAY, "today", None
    _, _, hour, dom, _, dow = fields[:6]
    if hour == "*" or "/" in hour or "," in hour or "-" in hour:
        return DependentCycle.HOUR, "currentHour", None
    if dom not in ("*", "?") or dow not in ("*", "?"):
        return (
            DependentCycle.DAY,
            "today",
            f"the upstream runs on given days only ({crontab}): waiting for today's run fails on other days; "
            "choose the period in the workflow editor",
        )
    return DependentCycle.DAY, "today", None


# ---------------------------------------------------------------------------------------------------------------
# Registration: the workflow a task's lineage points to


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
