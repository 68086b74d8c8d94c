"""Proposals: groups as new workflows, lone tasks as additions to an existing one, each with its reasons."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import chain, repeat
from operator import is_
from typing import NamedTuple, cast

import numpy as np

from common.workflow import DependentCycle
from definition.domain.dag import EdgePair
from definition.domain.grouping.groups import DEFAULT_MAX_SIZE, Group, fingerprint
from definition.domain.grouping.partition import Ints, _cut_by, _group, _group_members, _partition


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
    upstream: Mapping[int, Collection[int]],
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
    ids, gof, n_groups = p.id_array, p.group_of, p.groups
    task_ids, edges = _group_members(p)
    lone = np.bincount(gof, minlength=n_groups) == 1
    # the reasons: every dependency crossing a group's boundary as a row (group, upstream, downstream, the outside
    # end, whether the outside end is the upstream one, whether the outside end must be in a workflow to count), in
    # bulk. A dependency between two groups is in both groups' reasons; one from (to) a task outside counts when that
    # task is in a workflow; a lone task's crossing dependencies all count (``_proposal``: it may be an addition)
    gs, gd = gof[p.src], gof[p.dst]
    cut = gs != gd
    cu, cd, gs, gd = ids[p.src[cut]], ids[p.dst[cut]], gs[cut], gd[cut]
    outs = list(upstream.keys() - tasks)
    ups_of = [upstream[t] for t in outs]
    counts = np.fromiter(map(len, ups_of), dtype=np.int64, count=len(outs))
    out_ups = np.fromiter(chain.from_iterable(ups_of), dtype=np.int64, count=int(counts.sum()))
    out_down = np.repeat(np.fromiter(outs, dtype=np.int64, count=len(outs)), counts)
    at, found = p.positions(out_ups)
    out_ups, out_down, out_group = out_ups[found], out_down[found], gof[at[found]]
    fu, fd, fg = p.foreign_up, ids[p.foreign_to], gof[p.foreign_to]
    # blocks of rows: (group, upstream, downstream, outside end, the outside end is the upstream one, it counts only
    # when in a workflow)
    blocks: list[tuple[Ints, Ints, Ints, Ints, bool, bool]] = [
        (gd, cu, cd, cu, True, False),
        (fg, fu, fd, fu, True, True),
        (gs, cu, cd, cd, False, False),
        (out_group, out_ups, out_down, out_down, False, True),
    ]
    group, up, down, other = (np.concatenate([b[k] for b in blocks]) for k in range(4))
    from_up = np.concatenate([np.full(len(b[0]), b[4]) for b in blocks])
    needs_home = np.concatenate([np.full(len(b[0]), b[5]) for b in blocks])
    homes = list(map(workflow_of.get, other.tolist()))
    homeless = np.fromiter(map(is_, homes, repeat(None)), dtype=bool, count=len(homes))
    keep = lone[group] | ~(needs_home & homeless)
    order = np.lexsort((down, up, group))
    order = order[keep[order]]
    group, up, down, from_up = group[order], up[order], down[order], from_up[order]
    if len(group) > 1:  # the same dependency twice (``upstream`` listed it twice) counts once
        first = np.ones(len(group), dtype=bool)
        first[1:] = (group[1:] != group[:-1]) | (up[1:] != up[:-1]) | (down[1:] != down[:-1])
        order, group, up, down, from_up = order[first], group[first], up[first], down[first], from_up[first]
    alone = lone[group]
    lone_edges = _cut_by(
        list(zip(up[alone].tolist(), down[alone].tolist(), strict=True)),
        np.bincount(group[alone], minlength=n_groups),
    )
    crossing = ~alone
    rows = zip(
        up[crossing].tolist(),
        down[crossing].tolist(),
        map(homes.__getitem__, order[crossing].tolist()),
        map(("downstream", "upstream").__getitem__, from_up[crossing].tolist()),
        repeat("dependent_link"),
    )
    # ``tuple.__new__`` makes the named tuples without a Python call each (half a million of them at 200k tasks)
    reasons = cast(list[CrossDependency], list(map(tuple.__new__, repeat(CrossDependency), rows)))
    cross = _cut_by(reasons, np.bincount(group[crossing], minlength=n_groups))
    cyclic = p.cyclic()
    sizes = p.component_size
    proposals: list[Proposal] = []
    for g in range(n_groups):
        grouped = (
            _group(list(task_ids[g]), list(edges[g]), sizes[g])
            if g in cyclic
            else Group(task_ids[g], edges[g], component_size=sizes[g])
        )
        proposals.append(
            _proposal(grouped, list(lone_edges[g]), tasks, workflow_of, edge_tables)
            if lone[g]
            else _new_workflow(grouped, cross[g], edge_tables)
        )
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
    return _new_workflow(group, tuple(cross), edge_tables)


def _new_workflow(
    group: Group, cross: tuple[CrossDependency, ...], edge_tables: Mapping[EdgePair, Iterable[str]] | None
) -> Proposal:
    return Proposal(
        kind=ProposalKind.NEW_WORKFLOW,
        task_ids=group.task_ids,
        edges=group.edges,
        cycle_edges=group.cycle_edges,
        cycles=group.cycles,
        component_size=group.component_size,
        edge_tables=_tables(group.edges, edge_tables),
        cross=cross,
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
