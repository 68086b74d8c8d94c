"""Stable DolphinScheduler task codes for platform tasks.

A platform task keeps its DS task code for life: DS identifies a task definition (and its version
history) by the code, so reusing the code across workflow versions is what makes DS treat an edited task
as a new *version* of the same task instead of a new task. Codes of deleted tasks are never handed to
another task. New tasks take codes that DS generated (REST ``gen-task-codes`` or gateway
``genTaskCodeList``, at most :data:`MAX_CODES_PER_CALL` per call); this module only decides how many calls and which
task gets which code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: DS 3.4.x refuses ``genTaskCodeList(n)`` / ``gen-task-codes?genNum=n`` for n > 100 (``DATA_IS_NOT_VALID``)
MAX_CODES_PER_CALL = 100


def code_batches(needed: int) -> list[int]:
    """The sizes of the ``genTaskCodeList`` calls that give ``needed`` codes: 100 each, the rest last."""
    if needed < 0:
        raise ValueError(f"cannot ask for {needed} codes")
    full, rest = divmod(needed, MAX_CODES_PER_CALL)
    return [MAX_CODES_PER_CALL] * full + ([rest] if rest else [])


def codes_needed(task_ids: Iterable[int], existing: Mapping[int, int]) -> int:
    """How many fresh codes ``assign_codes`` will consume for ``task_ids``."""
    return len({tid for tid in task_ids if tid not in existing})


def assign_codes(
    task_ids: Iterable[int], existing: Mapping[int, int], fresh: Iterable[int]
) -> tuple[dict[int, int], dict[int, int]]:
    """Give every task in ``task_ids`` a DS task code.

    ``existing`` maps task_id -> code for every task that ever got a code in this workflow (deleted ones
    included); those codes are reused. Tasks without one take codes from ``fresh`` in ascending task_id
    order, so the result is deterministic. Returns ``(mapping, newly_assigned)``: ``mapping`` covers exactly
    ``task_ids``, ``newly_assigned`` is the part of it that the caller must persist before publishing.

    Raises ``ValueError`` (a caller bug, not bad input) when ``fresh`` is too short, repeats a code, holds a
    code that is not positive, or holds a code already given to some task in ``existing``.
    """
    wanted = sorted(set(task_ids))
    new_ids = [tid for tid in wanted if tid not in existing]
    mapping = {tid: existing[tid] for tid in wanted if tid in existing}
    if not new_ids:
        return mapping, {}
    taken = set(existing.values())
    newly_assigned: dict[int, int] = {}
    supply = iter(fresh)
    for tid in new_ids:
        code = next(supply, None)
        if code is None:
            raise ValueError(f"{len(new_ids)} fresh task codes are needed, only {len(newly_assigned)} were given")
        if code <= 0:
            raise ValueError(f"fresh task code {code} is not positive")
        if code in taken:  # also catches a code repeated in ``fresh``
            raise ValueError(f"fresh task code {code} is already used by another task")
        taken.add(code)
        newly_assigned[tid] = code
    mapping.update(newly_assigned)
    return dict(sorted(mapping.items())), newly_assigned
