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
     Linear plus a sort. Steps 1-3 run in one pass over arrays indexed by task position (components by union-find,
     the order by Kahn's algorithm assigning parts as it goes): no networkx graph, because building one costs more
     than the whole partitioning (docs/decisions/0001-auto-orchestration-grouping.md);
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

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import networkx as nx

from definition.domain.dag import EdgePair
from definition.domain.grouping.groups import _SEED, DEFAULT_MAX_SIZE, LOCAL_LIMIT, Group


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
    #: the dependencies from tasks outside ``ids`` (``(upstream task id, position)``)
    foreign: list[tuple[int, int]]


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
        tasks = sorted(map(ids.__getitem__, members))
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
    #: dependencies from a task outside ``task_ids``: ``(upstream task id, position)``
    foreign: list[tuple[int, int]] = []
    iget = index.get
    for i, ups in enumerate(map(upstream.get, ids)):
        if not ups:
            continue
        r = i
        while parent[r] != r:
            parent[r] = r = parent[parent[r]]
        degree = 0
        for u, j in zip(ups, map(iget, ups), strict=True):
            if j is None:
                foreign.append((u, i))
                continue
            if j == i:
                continue
            succ[j].append(i)
            degree += 1
            while parent[j] != j:
                parent[j] = j = parent[parent[j]]
            if j != r:
                if weight[r] < weight[j]:
                    parent[r] = j
                    weight[j] += weight[r]
                    r = j
                else:
                    parent[j] = r
                    weight[r] += weight[j]
        indegree[i] = degree
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
    # a task without a predecessor opened a part of its own (about half the parts of a large component): it joins the
    # first part it leads to while that has room (nothing runs into it, so every dependency still runs forward)
    for t in range(n):
        p = part[t]
        if size[p] == 1 and succ[t] and weight[comp[t]] > max_size and best[t] < 0:
            hi = min(part[w] for w in succ[t])
            if hi != p and size[hi] < max_size:
                part[t] = hi
                size[hi] += 1
                size[p] = 0
    # 3. merge parts sharing the most dependencies while they fit and the order holds
    m = len(size)  # a pair of parts (a, b) as one key a * m + b: ints count and sort faster than tuples
    shared = Counter(pa * m + pb for a, pa in enumerate(part) for pb in map(part.__getitem__, succ[a]) if pa != pb)
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
    return _Partition(ids, index, groups, group_of, [weight[r] for r in group_comp], succ, dropped, foreign)


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


def _merge_forward(shared: Mapping[int, int], size: list[int], max_size: int) -> list[int]:
    """Merge parts whose dependencies (``shared``: how many per pair of parts ``(a, b)``, keyed ``a * len(size) + b``)
    all run from lower to higher index (``_partition``), the pairs sharing the most dependencies first, while the union
    fits and the order holds:
    ``lo → hi`` merge into ``lo`` when every other predecessor of ``hi`` comes before ``lo``, or into ``hi`` when
    every other successor of ``lo`` comes after ``hi`` (then no other path joins them, so no circle forms). Returns
    each part's root (the part it was merged into), a topological order of the merged parts."""
    n = len(size)
    preds: list[set[int]] = [set() for _ in range(n)]
    succs: list[set[int]] = [set() for _ in range(n)]
    for key in shared:
        a, b = divmod(key, n)
        preds[b].add(a)
        succs[a].add(b)
    size = list(size)
    root = list(range(n))
    # cached first successor and last predecessor of a part (``-1``, ``n``: not known)
    first_succ = [-1] * n
    last_pred = [n] * n

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    pairs = sorted(shared)
    pairs.sort(key=shared.__getitem__, reverse=True)  # the most shared first, stable: then by the pair
    for key in pairs:
        a, b = divmod(key, n)
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
