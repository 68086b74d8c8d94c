"""Proposals: groups as new workflows, lone tasks as additions to an existing one, each with its reasons."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from common.workflow import DependentCycle
from definition.domain.dag import EdgePair
from definition.domain.grouping.groups import DEFAULT_MAX_SIZE, Group, fingerprint
from definition.domain.grouping.partition import _groups, _partition


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
    # each group's inner dependencies and the reasons for those crossing its boundary, in one pass over ``upstream``:
    # a cross dependency is kept when its outside end is unassigned (another group) or in a workflow; a lone task's
    # crossing edges are kept as they are (``_proposal``: it may be an addition to a workflow)
    inside: list[list[EdgePair]] = [[] for _ in p.groups]
    cross: list[list[CrossDependency]] = [[] for _ in p.groups]
    lone: dict[int, list[EdgePair]] = {g: [] for g, members in enumerate(p.groups) if len(members) == 1}
    ids, gof, wget = p.ids, p.group_of, workflow_of.get
    # between the tasks (positions): the successor lists and the dependencies set apart as closing a lineage cycle
    for a, (ga, succ) in enumerate(zip(gof, p.succ, strict=True)):
        if not succ:
            continue
        u = ids[a]
        for b in succ:
            gb = gof[b]
            if ga == gb:
                inside[ga].append((u, ids[b]))
            else:
                _cut(cross, lone, ga, gb, u, ids[b], wget)
    for a, b in p.dropped:
        if gof[a] == gof[b]:
            inside[gof[a]].append((ids[a], ids[b]))
        else:
            _cut(cross, lone, gof[a], gof[b], ids[a], ids[b], wget)
    # from a task outside (kept when it is in a workflow), and to one (the same)
    for u, b in p.foreign:
        g = gof[b]
        if g in lone:
            lone[g].append((u, ids[b]))
        elif u in workflow_of:
            cross[g].append(CrossDependency(u, ids[b], workflow_of[u], "upstream"))
    iget = p.index.get
    for t in upstream.keys() - tasks:
        w = wget(t)
        for u in upstream[t]:
            j = iget(u)
            if j is not None:
                h = gof[j]
                if h in lone:
                    lone[h].append((u, t))
                elif w is not None:
                    cross[h].append(CrossDependency(u, t, w, "downstream"))
    proposals = [
        _proposal(group, sorted(set(lone[g])), tasks, workflow_of, edge_tables)
        if g in lone
        else Proposal(
            kind=ProposalKind.NEW_WORKFLOW,
            task_ids=group.task_ids,
            edges=group.edges,
            cycle_edges=group.cycle_edges,
            cycles=group.cycles,
            component_size=group.component_size,
            edge_tables=_tables(group.edges, edge_tables),
            cross=tuple(sorted(set(cross[g]))),
        )
        for g, group in enumerate(_groups(p, inside))
    ]
    proposals.sort(key=lambda x: x.task_ids[0])
    return proposals


def _cut(
    cross: list[list[CrossDependency]],
    lone: dict[int, list[EdgePair]],
    gu: int,
    gd: int,
    u: int,
    d: int,
    wget: Callable[[int], int | None],
) -> None:
    """A dependency ``u → d`` between two groups, in both groups' reasons."""
    if gd in lone:
        lone[gd].append((u, d))
    else:
        cross[gd].append(CrossDependency(u, d, wget(u), "upstream"))
    if gu in lone:
        lone[gu].append((u, d))
    else:
        cross[gu].append(CrossDependency(u, d, wget(d), "downstream"))


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
