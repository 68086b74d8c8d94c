"""Incremental upkeep (``ProposalBook.update``, the service's ``_refresh_proposals``).

Groups stay as they are unless a change breaks them (``affected``): a group that lost a task or an inner dependency
is formed again as its connected pieces, a new task is a group of its own, a dependency added between two groups
merges them when they fit together and no other path joins them, and one that closes a circle of cut dependencies
splits the groups on the circle where the new dependency's path through their tasks ends (``ProposalBook._untangle``),
one circle at a time (``untangle_path``; the service's ``_untangle`` takes the same steps over PostgreSQL); only a
lineage cycle or a circle not broken within ``UNTANGLE_ROUNDS`` paths regroups the groups on the circle together. The
quality drifts from a rebuild's; ``POST /internal/proposals/rebuild`` repairs it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from definition.domain.dag import EdgePair
from definition.domain.grouping.groups import DEFAULT_MAX_SIZE, Group
from definition.domain.grouping.partition import group_tasks

#: circles a new dependency closes that ``ProposalBook._untangle`` breaks by splitting groups before it regroups them
UNTANGLE_ROUNDS = 8
#: groups the search for another path between two groups that would merge may see; past it they stay apart (merging
#: is for quality only, and a search around the hub tables can see most groups)
MERGE_SEARCH_LIMIT = 1_000


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


def untangle_path(
    path: Sequence[int],
    u: int,
    v: int,
    members_of: Callable[[int], Iterable[int]],
    group_of: Callable[[int], int | None],
    upstream: Mapping[int, Collection[int]],
    downstream: Mapping[int, Iterable[int]],
) -> list[tuple[int, set[int]]] | None:
    """Where to split the groups of ``path`` (groups from ``v``'s to ``u``'s along cut dependencies, closed into a
    circle by the new dependency ``u → v``): follow it task by task — in each group the tasks reached from the
    previous group's reached part (``v`` itself in the first), within the group — up to the first group whose
    reached part leads no further along the path. Returns ``(group, reached part)`` per group on the way (splitting
    each into its reached part and the rest breaks the path: ``ProposalBook._untangle``, the service's
    ``_untangle``), ``None`` when ``v`` reaches ``u`` through the tasks themselves (a lineage cycle)."""
    reached: set[int] = {v}
    parts: list[tuple[int, set[int]]] = []
    for i, gid in enumerate(path):
        members = set(members_of(gid))
        if i > 0:
            reached = {t for t in members for w in upstream.get(t, ()) if w in reached}
        stack = list(reached)
        while stack:
            for w in downstream.get(stack.pop(), ()):
                if w in members and w not in reached:
                    reached.add(w)
                    stack.append(w)
        parts.append((gid, reached))
        if i + 1 == len(path):
            return None if u in reached else parts
        nxt = path[i + 1]
        if not any(group_of(w) == nxt for t in reached for w in downstream.get(t, ())):
            break
    return parts


@dataclass
class ProposalBook:
    """Groups of unassigned tasks kept up to date in memory (benchmarks, property tests); the service keeps the same
    groups in PostgreSQL with the same steps (``affected``, pieces, circle check)."""

    max_size: int = DEFAULT_MAX_SIZE
    groups: dict[int, Group] = field(default_factory=dict)
    group_of: dict[int, int] = field(default_factory=dict)
    _next: int = 1
    #: the groups a group's dependencies lead to (``(group, downstream?)``, ``_linked``), kept between updates while
    #: the same ``upstream``/``downstream`` mappings come (``_links``), patched when a group next to it goes or comes
    #: (``_relink``)
    _linked_cache: dict[tuple[int, bool], set[int]] = field(default_factory=dict, repr=False)
    _links: tuple[Mapping[int, Iterable[int]], Mapping[int, Iterable[int]]] | None = field(default=None, repr=False)

    def rebuild(self, unassigned: Iterable[int], upstream: Mapping[int, Collection[int]]) -> None:
        self.groups.clear()
        self.group_of.clear()
        self._linked_cache.clear()
        self._links = None
        self._add(group_tasks(unassigned, upstream, self.max_size))

    def _add(self, groups: Iterable[Group]) -> list[int]:
        ids = []
        for g in groups:
            gid = self._next
            self._next += 1
            self.groups[gid] = g
            for t in g.task_ids:
                self.group_of[t] = gid
            self._relink(gid, g.task_ids, add=True)
            ids.append(gid)
        return ids

    def _relink(self, gid: int, tasks: Iterable[int], *, add: bool) -> None:
        """Patch the cached links of the groups next to ``tasks`` for group ``gid`` coming (``add``) or going: a
        dependency ``t → w`` from ``gid`` puts ``gid`` among the groups ``w``'s group's upstream links lead to, and
        the other way round (the links of a dependency that went are patched at its other end, whose group is
        formed again: ``affected``)."""
        if not self._links or not self._linked_cache:
            return
        cache, of = self._linked_cache, self.group_of
        up, down = self._links
        for t in tasks:
            # w upstream of t: w's group's downstream links lead to gid (key True); w downstream: upstream (False)
            for links, key in ((up, True), (down, False)):
                for w in links.get(t, ()):
                    if (h := of.get(w)) is not None and h != gid and (found := cache.get((h, key))) is not None:
                        if add:
                            found.add(gid)
                        else:
                            found.discard(gid)

    def update(
        self,
        change: Change,
        *,
        unassigned: Collection[int],
        upstream: Mapping[int, Collection[int]],
        downstream: Mapping[int, Iterable[int]],
    ) -> list[int]:
        """Apply a change (``affected``); returns the ids of the groups it created."""

        def neighbours(t: int) -> Iterable[int]:
            return (*upstream.get(t, ()), *downstream.get(t, ()))

        if self._links is None or self._links[0] is not upstream or self._links[1] is not downstream:
            self._linked_cache.clear()
            self._links = (upstream, downstream)

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
                if not self._reaches(succ, pred, upstream, downstream, limit=MERGE_SEARCH_LIMIT):
                    both = [*self.groups[a].task_ids, *self.groups[b].task_ids]
                    new = [g for g in new if g not in (a, b)] + self._regroup(both, [a, b], unassigned, upstream)
                    continue
            # a circle back from b to a: split the groups on it (``_untangle``), else regroup them together
            split, untangled = self._untangle(u, v, unassigned, upstream, downstream)
            new = [g for g in new if g in self.groups] + split
            if untangled:
                continue
            a = self.group_of[u]
            tangled = self._circle(a, upstream, downstream)
            members = {t for g in tangled for t in self.groups[g].task_ids}
            new = [g for g in new if g not in tangled] + self._regroup(members, tangled, unassigned, upstream)
        return [g for g in new if g in self.groups]

    def _regroup(
        self,
        region: Iterable[int],
        gids: Iterable[int],
        unassigned: Collection[int],
        upstream: Mapping[int, Collection[int]],
    ) -> list[int]:
        gids = list(gids)
        formed = group_tasks((t for t in region if t in unassigned), upstream, self.max_size)
        if len(gids) == 1 and len(formed) == 1 and formed[0].task_ids == self.groups[gids[0]].task_ids:
            # the same tasks again (a dependency came or went inside, or next to it): the same id, so the links the
            # other groups' cached entries hold stay true; only its own entries are formed again
            (gid,) = gids
            self.groups[gid] = formed[0]
            self._linked_cache.pop((gid, True), None)
            self._linked_cache.pop((gid, False), None)
            return [gid]
        for gid in gids:
            tasks = self.groups.pop(gid).task_ids
            self._linked_cache.pop((gid, True), None)
            self._linked_cache.pop((gid, False), None)
            self._relink(gid, tasks, add=False)
            for t in tasks:
                if self.group_of.get(t) == gid:
                    del self.group_of[t]
        return self._add(formed)

    def _untangle(
        self,
        u: int,
        v: int,
        unassigned: Collection[int],
        upstream: Mapping[int, Collection[int]],
        downstream: Mapping[int, Iterable[int]],
    ) -> tuple[list[int], bool]:
        """Break the circles the new dependency ``u → v`` closes between groups without regrouping them: take one
        circle (a shortest path of groups from ``v``'s back to ``u``'s), follow it task by task — in each group the
        tasks reached from the previous group's reached part (``v`` itself in the first), within the group — up to
        the first group whose reached part leads no further along the path, and split each group on the way into
        its reached part and the rest (as connected pieces). Inside a group its dependencies only run from the rest
        into the reached part, so a split never closes a circle elsewhere; the path is broken, and the next circle,
        if any, is taken the same way. Returns the ids of the groups it created and whether no circle is left: not
        when the tasks themselves close a lineage cycle or the circles are not broken within ``UNTANGLE_ROUNDS``
        paths (then the caller regroups the circle)."""
        created: list[int] = []
        for _ in range(UNTANGLE_ROUNDS):
            path = self._path(self.group_of[v], self.group_of[u], upstream, downstream)
            if path is None:
                return [g for g in created if g in self.groups], True
            parts = untangle_path(
                path, u, v, lambda gid: self.groups[gid].task_ids, self.group_of.get, upstream, downstream
            )
            if parts is None:
                return [g for g in created if g in self.groups], False
            for gid, part in parts:
                rest = [t for t in self.groups[gid].task_ids if t not in part]
                if not rest:
                    continue
                created += self._regroup(part, [gid], unassigned, upstream)
                created += self._add(group_tasks((t for t in rest if t in unassigned), upstream, self.max_size))
        return [g for g in created if g in self.groups], False

    def _path(
        self,
        src: int,
        dst: int,
        upstream: Mapping[int, Collection[int]],
        downstream: Mapping[int, Iterable[int]],
    ) -> list[int] | None:
        """A shortest path of cut dependencies from group ``src`` to group ``dst`` (``_reaches``, with the way back)."""
        if src == dst:
            return [src]
        ahead: dict[int, int] = {src: src}
        behind: dict[int, int] = {dst: dst}
        fwd, bwd = [src], [dst]
        meet = None
        while fwd and bwd and meet is None:
            if len(fwd) <= len(bwd):
                nxt = []
                for g in fwd:
                    for h in self._linked(g, downstream):
                        if h not in ahead:
                            ahead[h] = g
                            nxt.append(h)
                            if h in behind:
                                meet = h
                                break
                    if meet is not None:
                        break
                fwd = nxt
            else:
                nxt = []
                for g in bwd:
                    for h in self._linked(g, upstream):
                        if h not in behind:
                            behind[h] = g
                            nxt.append(h)
                            if h in ahead:
                                meet = h
                                break
                    if meet is not None:
                        break
                bwd = nxt
        if meet is None:
            return None
        path = [meet]
        while path[0] != src:
            path.insert(0, ahead[path[0]])
        while path[-1] != dst:
            path.append(behind[path[-1]])
        return path

    def _linked(self, g: int, links: Mapping[int, Iterable[int]]) -> set[int]:
        """The groups that ``g``'s dependencies (``links``: upstream or downstream) lead to, ``g`` among them when it
        has an inner one; cached (``_linked_cache``)."""
        key = (g, self._links is not None and links is self._links[1])
        found = self._linked_cache.get(key)
        if found is None:
            of = self.group_of.get
            found = self._linked_cache[key] = {
                h for t in self.groups[g].task_ids for w in links.get(t, ()) if (h := of(w)) is not None
            }
        return found

    def _reaches(
        self,
        src: set[int],
        dst: set[int],
        upstream: Mapping[int, Collection[int]],
        downstream: Mapping[int, Iterable[int]],
        limit: int | None = None,
    ) -> bool:
        """Whether cut dependencies lead from a group of ``src`` to one of ``dst``: searched from both ends at once,
        the smaller frontier first (a group's downstream closure can be most of the graph, its upstream one small,
        or the other way round). Past ``limit`` groups seen: ``True`` (for a check where "maybe" must read "yes")."""
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
            if limit is not None and len(ahead) + len(behind) > limit:
                return True
        return False

    def _circle(
        self, start: int, upstream: Mapping[int, Collection[int]], downstream: Mapping[int, Iterable[int]]
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
