"""Keeping the auto-orchestration proposals current in the transaction of every change that can alter them
(a dependency change, a task created or deleted, a workflow's task set changed or a workflow deleted). Each regroups
only the proposals the change breaks (``grouping.upkeep.affected``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from definition.db.repository import dependencies as dependency_repo
from definition.db.repository import proposals as proposal_repo
from definition.db.repository import tasks as task_repo
from definition.deps import Deps
from definition.domain.grouping.partition import circles, group_tasks
from definition.domain.grouping.proposals import Proposal, explain
from definition.domain.grouping.upkeep import UNTANGLE_ROUNDS, Change, affected, untangle_path


def _proposal_row(p: Proposal, dismissed: bool) -> proposal_repo.ProposalRow:
    return proposal_repo.ProposalRow(
        fingerprint=p.fingerprint,
        kind=p.kind.value,
        workflow_id=p.workflow_id,
        task_ids=list(p.task_ids),
        details={
            "edges": [list(e) for e in p.edges],
            "cycle_edges": [list(e) for e in p.cycle_edges],
            "cycles": [list(c) for c in p.cycles],
            "component_size": p.component_size,
            "cross": [
                {
                    "upstream_task_id": c.upstream_task_id,
                    "downstream_task_id": c.downstream_task_id,
                    "other_workflow_id": c.other_workflow_id,
                    "outside": c.outside,
                    "kept_as": c.kept_as,
                }
                for c in p.cross
            ],
        },
        dismissed=dismissed,
    )


async def _store_proposals(session: AsyncSession, proposals: Sequence[Proposal]) -> list[int]:
    dismissed = await proposal_repo.dismissed_among(session, [p.fingerprint for p in proposals])
    return await proposal_repo.insert_proposals(
        session, [_proposal_row(p, p.fingerprint in dismissed) for p in proposals]
    )


async def _regroup(session: AsyncSession, deps: Deps, region: set[int], proposal_ids: Iterable[int]) -> list[int]:
    """Replace the proposals ``proposal_ids`` by the groups of the unassigned tasks of ``region``."""
    await proposal_repo.delete_proposals(session, proposal_ids)
    unassigned = await proposal_repo.unassigned_of(session, region)
    sets = await dependency_repo.dependency_sets(session, unassigned)
    upstream = {t: ups for t, (ups, _) in sets.items()}
    downstream = {t: downs for t, (_, downs) in sets.items()}
    outside = {x for ups, downs in sets.values() for x in (*ups, *downs)} - unassigned
    owners = await task_repo.task_owners(session, outside)
    workflow_of = {t: o[0] for t, o in owners.items() if o is not None}
    known_unassigned = unassigned | {t for t, o in owners.items() if o is None}
    groups = group_tasks(unassigned, upstream, deps.proposal_max_size)
    return await _store_proposals(
        session, [explain(g, known_unassigned, upstream, downstream, workflow_of) for g in groups]
    )


async def _refresh_proposals(session: AsyncSession, deps: Deps, change: Change) -> None:
    """Apply a change to the proposals with the least regrouping (``grouping.upkeep.affected``): broken proposals formed
    again as their connected pieces, new unassigned tasks as proposals of their own, and a circle of cut
    dependencies that an added dependency closed broken by splitting the proposals on it (``_untangle``; regrouped
    together only for a lineage cycle or past ``UNTANGLE_ROUNDS`` circles). The circles are found with recursive
    queries from the two ends."""
    if not (change.added or change.removed or change.joined or change.left or change.moved):
        return
    await proposal_repo.lock_proposals_table(session)
    ends = {x for e in (*change.added, *change.removed) for x in e} | {*change.joined, *change.left, *change.moved}
    sets = await dependency_repo.dependency_sets(session, change.moved)
    neighbours = {t: (*ups, *downs) for t, (ups, downs) in sets.items()}
    proposal_of = await proposal_repo.proposals_of_tasks(session, ends | {x for n in neighbours.values() for x in n})
    dirty, lone, cross = affected(change, proposal_of.get, lambda t: neighbours.get(t, ()))
    for gid in sorted(dirty):
        await _regroup(session, deps, set(await proposal_repo.proposal_members(session, [gid])), [gid])
    if lone:
        await _regroup(session, deps, lone, [])
        for t, (ups, downs) in (await dependency_repo.dependency_sets(session, lone)).items():
            cross += [(u, t) for u in ups] + [(t, d) for d in downs]
    for u, v in cross:
        of = await proposal_repo.proposals_of_tasks(session, [u, v])
        a, b = of.get(u), of.get(v)
        if a is None or b is None or a == b:
            continue
        members = await proposal_repo.proposal_members(session, [a, b])
        if len(members) <= deps.proposal_max_size:
            # the two proposals now depend on each other: one proposal, unless another path joins them (a circle)
            succ = await proposal_repo.proposal_neighbours(session, [a, b], downstream=True) - {a, b}
            pred = await proposal_repo.proposal_neighbours(session, [a, b], downstream=False) - {a, b}
            if not (
                succ and pred and await proposal_repo.proposal_reach(session, sorted(succ), downstream=True) & pred
            ):
                await _regroup(session, deps, set(members), [a, b])
                continue
        tangled = await _untangle(session, deps, u, v)
        if tangled:
            await _regroup(session, deps, set(await proposal_repo.proposal_members(session, tangled)), tangled)


async def _untangle(session: AsyncSession, deps: Deps, u: int, v: int) -> set[int]:
    """Break the circles of cut dependencies the new dependency ``u → v`` closes as ``ProposalBook._untangle`` does:
    one circle at a time (a shortest path of proposals from ``v``'s back to ``u``'s, over the links between the
    proposals on such paths), the proposals on the way split where the path through their tasks ends
    (``untangle_path``), up to ``UNTANGLE_ROUNDS`` circles. Returns the proposals on the circle left (to regroup
    together: a lineage cycle, or circles past the bound), empty when none is."""
    for round_no in range(UNTANGLE_ROUNDS + 1):
        of = await proposal_repo.proposals_of_tasks(session, [u, v])
        a, b = of.get(u), of.get(v)
        if a is None or b is None or a == b:
            return set()
        forward = await proposal_repo.proposal_reach(session, [b], downstream=True)
        if a not in forward:
            return set()
        # before this change no circle existed: every circle now runs through a → b
        on_paths = forward & await proposal_repo.proposal_reach(session, [a], downstream=False)
        links = await proposal_repo.proposal_links(session, sorted(on_paths))
        path = _shortest_path(links, b, a)
        if path is None or round_no == UNTANGLE_ROUNDS:
            return circles(links)
        members = {gid: await proposal_repo.proposal_members(session, [gid]) for gid in path}
        sets = await dependency_repo.dependency_sets(session, {t for ts in members.values() for t in ts})
        upstream = {t: ups for t, (ups, _) in sets.items()}
        downstream = {t: downs for t, (_, downs) in sets.items()}
        group_of = {t: gid for gid, ts in members.items() for t in ts}
        parts = untangle_path(path, u, v, members.__getitem__, group_of.get, upstream, downstream)
        if parts is None:
            return circles(links)
        for gid, part in parts:
            rest = set(members[gid]) - part
            if rest:
                await _regroup(session, deps, part, [gid])
                await _regroup(session, deps, rest, [])
    raise AssertionError("unreachable: the last round returns")


def _shortest_path(links: Iterable[tuple[int, int]], src: int, dst: int) -> list[int] | None:
    """A shortest path from ``src`` to ``dst`` over ``links`` (breadth first, neighbours in order: deterministic)."""
    succ: dict[int, list[int]] = {}
    for x, y in sorted(links):
        succ.setdefault(x, []).append(y)
    before: dict[int, int] = {src: src}
    frontier = [src]
    while frontier and dst not in before:
        nxt = []
        for x in frontier:
            for y in succ.get(x, ()):
                if y not in before:
                    before[y] = x
                    nxt.append(y)
        frontier = nxt
    if dst not in before:
        return None
    path = [dst]
    while path[-1] != src:
        path.append(before[path[-1]])
    return path[::-1]
