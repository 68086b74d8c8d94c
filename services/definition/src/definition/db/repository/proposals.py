"""Auto-orchestration proposals (issue 20): the tasks in no workflow, the proposals and their reach."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Row,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from definition.db.repository.reads import _BIGINT_ARRAY
from definition.db.repository.tasks import _dep
from definition.db.tables import (
    data_task,
    data_workflow,
    dismissed_proposal,
    orchestration_proposal,
    orchestration_proposal_task,
    workflow_task_relation,
)

_prop = orchestration_proposal
_prop_task = orchestration_proposal_task


async def unassigned_of(session: AsyncSession, task_ids: Iterable[int]) -> set[int]:
    """The tasks of ``task_ids`` that exist and are in no workflow."""
    ids = list(task_ids)
    if not ids:
        return set()
    rows = await session.execute(
        select(data_task.c.id).where(
            data_task.c.id == func.any(cast(bindparam("ids", ids), _BIGINT_ARRAY)),
            ~exists().where(workflow_task_relation.c.task_id == data_task.c.id),
        )
    )
    return {int(r.id) for r in rows}


async def all_unassigned(session: AsyncSession) -> list[int]:
    rows = await session.execute(
        select(data_task.c.id).where(~exists().where(workflow_task_relation.c.task_id == data_task.c.id))
    )
    return [int(r.id) for r in rows]


async def all_dependencies(session: AsyncSession) -> dict[int, list[int]]:
    """``task id -> upstream ids`` of the whole projection."""
    rows = await session.execute(select(_dep.c.task_id, _dep.c.upstream_task_ids))
    return {int(r.task_id): list(r.upstream_task_ids) for r in rows if r.upstream_task_ids}


async def proposals_of_tasks(session: AsyncSession, task_ids: Iterable[int]) -> dict[int, int]:
    """``task id -> proposal id`` for the tasks of ``task_ids`` that are in a proposal."""
    ids = list(task_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(_prop_task.c.task_id, _prop_task.c.proposal_id).where(
            _prop_task.c.task_id == func.any(cast(bindparam("ids", ids), _BIGINT_ARRAY))
        )
    )
    return {int(r.task_id): int(r.proposal_id) for r in rows}


async def proposal_members(session: AsyncSession, proposal_ids: Iterable[int]) -> list[int]:
    ids = list(proposal_ids)
    if not ids:
        return []
    rows = await session.execute(
        select(_prop_task.c.task_id).where(
            _prop_task.c.proposal_id == func.any(cast(bindparam("ids", ids), _BIGINT_ARRAY))
        )
    )
    return [int(r.task_id) for r in rows]


async def lock_proposals_table(session: AsyncSession) -> None:
    """Regroupings one at a time (a transaction-scoped advisory lock): two concurrent ones could each read the
    other's old groups."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('definition.orchestration_proposal'))"))


async def delete_proposals(session: AsyncSession, proposal_ids: Iterable[int] | None) -> None:
    """Delete those proposals (all with ``None``) and their task rows (cascade)."""
    if proposal_ids is None:
        await session.execute(delete(_prop))
        return
    ids = list(proposal_ids)
    if ids:
        await session.execute(delete(_prop).where(_prop.c.id == func.any(cast(bindparam("ids", ids), _BIGINT_ARRAY))))


async def dismissed_among(session: AsyncSession, fingerprints: Iterable[str]) -> set[str]:
    keys = list(fingerprints)
    if not keys:
        return set()
    rows = await session.execute(
        select(dismissed_proposal.c.fingerprint).where(dismissed_proposal.c.fingerprint.in_(keys))
    )
    return {str(r.fingerprint) for r in rows}


@dataclass(frozen=True)
class ProposalRow:
    fingerprint: str
    kind: str
    workflow_id: int | None
    task_ids: list[int]
    details: dict[str, Any]
    dismissed: bool


async def insert_proposals(session: AsyncSession, rows: Sequence[ProposalRow]) -> list[int]:
    """Insert the proposals and their task rows; returns their ids in order."""
    if not rows:
        return []
    ids = [
        int(r.id)
        for r in await session.execute(
            insert(_prop).returning(_prop.c.id, sort_by_parameter_order=True),
            [
                {
                    "fingerprint": r.fingerprint,
                    "kind": r.kind,
                    "workflow_id": r.workflow_id,
                    "task_ids": r.task_ids,
                    "task_count": len(r.task_ids),
                    "details": r.details,
                    "dismissed": r.dismissed,
                }
                for r in rows
            ],
        )
    ]
    members = [{"task_id": t, "proposal_id": pid} for pid, r in zip(ids, rows, strict=True) for t in r.task_ids]
    for start in range(0, len(members), 5_000):
        await session.execute(insert(_prop_task), members[start : start + 5_000])
    return ids


async def list_proposals(
    session: AsyncSession, *, include_dismissed: bool, page: int, page_size: int
) -> tuple[int, list[Row[Any]]]:
    """Proposals, the largest first (then by id)."""
    where = [] if include_dismissed else [~_prop.c.dismissed]
    total = int((await session.execute(select(func.count()).select_from(_prop).where(*where))).scalar_one())
    rows = (
        await session.execute(
            select(_prop)
            .where(*where)
            .order_by(_prop.c.task_count.desc(), _prop.c.id)
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
    ).all()
    return total, list(rows)


async def get_proposal(session: AsyncSession, proposal_id: int, *, lock: bool = False) -> Row[Any] | None:
    q = select(_prop).where(_prop.c.id == proposal_id)
    if lock:
        q = q.with_for_update()
    return (await session.execute(q)).first()


async def dismiss_proposal(session: AsyncSession, proposal_id: int, fingerprint: str, actor: str) -> None:
    await session.execute(update(_prop).where(_prop.c.id == proposal_id).values(dismissed=True))
    await session.execute(
        pg_insert(dismissed_proposal)
        .values(fingerprint=fingerprint, dismissed_by=actor)
        .on_conflict_do_nothing(index_elements=[dismissed_proposal.c.fingerprint])
    )


async def proposal_reach(session: AsyncSession, start: Sequence[int], *, downstream: bool) -> set[int]:
    """The proposals reachable from ``start`` along the dependencies between their tasks (downstream, or upstream):
    one recursive query."""
    if not start:
        return set()
    column = "downstream_task_ids" if downstream else "upstream_task_ids"
    rows = await session.execute(
        text(
            f"""
            WITH RECURSIVE reach(pid) AS (
                SELECT unnest(CAST(:start AS bigint[]))
                UNION
                SELECT other.proposal_id
                FROM reach
                JOIN orchestration_proposal_task mine ON mine.proposal_id = reach.pid
                JOIN task_dependency_projection d ON d.task_id = mine.task_id
                JOIN orchestration_proposal_task other ON other.task_id = ANY(d.{column})
            )
            SELECT pid FROM reach
            """  # noqa: S608 - column is one of two literals
        ),
        {"start": list(start)},
    )
    return {int(r.pid) for r in rows}


async def proposal_neighbours(session: AsyncSession, proposal_ids: Sequence[int], *, downstream: bool) -> set[int]:
    """The proposals holding a task downstream (or upstream) of a task of ``proposal_ids``."""
    column = "downstream_task_ids" if downstream else "upstream_task_ids"
    rows = await session.execute(
        text(
            f"""
            SELECT DISTINCT other.proposal_id AS pid
            FROM orchestration_proposal_task mine
            JOIN task_dependency_projection d ON d.task_id = mine.task_id
            JOIN orchestration_proposal_task other ON other.task_id = ANY(d.{column})
            WHERE mine.proposal_id = ANY(CAST(:ids AS bigint[]))
            """  # noqa: S608 - column is one of two literals
        ),
        {"ids": list(proposal_ids)},
    )
    return {int(r.pid) for r in rows}


async def proposal_links(session: AsyncSession, proposal_ids: Sequence[int]) -> list[tuple[int, int]]:
    """``(upstream proposal, downstream proposal)`` pairs among ``proposal_ids`` (a dependency between their
    tasks)."""
    if not proposal_ids:
        return []
    rows = await session.execute(
        text(
            """
            SELECT DISTINCT mine.proposal_id AS up, other.proposal_id AS down
            FROM orchestration_proposal_task mine
            JOIN task_dependency_projection d ON d.task_id = mine.task_id
            JOIN orchestration_proposal_task other ON other.task_id = ANY(d.downstream_task_ids)
            WHERE mine.proposal_id = ANY(CAST(:ids AS bigint[])) AND other.proposal_id = ANY(CAST(:ids AS bigint[]))
              AND mine.proposal_id <> other.proposal_id
            """
        ),
        {"ids": list(proposal_ids)},
    )
    return [(int(r.up), int(r.down)) for r in rows]


async def all_owners(session: AsyncSession) -> dict[int, int]:
    """``task id -> workflow id`` of every task in a workflow."""
    c = workflow_task_relation.c
    return {int(r.task_id): int(r.workflow_id) for r in await session.execute(select(c.task_id, c.workflow_id))}


async def dependents_of(session: AsyncSession, workflow_id: int) -> list[int]:
    """The workflows whose current version has a DEPENDENT link to a task of ``workflow_id`` (issue 20)."""
    rows = await session.execute(
        select(data_workflow.c.id)
        .where(data_workflow.c.definition_json["upstream_workflow_ids"].contains(cast([workflow_id], JSONB)))
        .order_by(data_workflow.c.id)
    )
    return [int(r.id) for r in rows]
