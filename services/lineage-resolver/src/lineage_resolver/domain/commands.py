"""Native commands carried by ``lineage.changed`` (the payloads our own producers send).

Every command is a frozen pydantic model with a ``type`` literal and a ``version``; unknown fields are ignored.
Table names are opaque, whitespace-stripped strings; producers send the qualified form the platform uses everywhere
(``<namespace>/<name>``, the same form :mod:`.openlineage` builds from OpenLineage datasets).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError, model_validator

from .errors import InvalidLineageMessage
from .model import TableEdge

MAX_TABLES_PER_TASK = 10_000
MAX_EDGES_PER_COMMAND = 10_000

TableNameField = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1024)]
TaskIdField = Annotated[int, Field(ge=1)]


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    version: Literal[1] = 1


class SetTaskTables(_Command):
    """Replace the read set and/or the write set of a task. ``None`` leaves that side as it is; an empty set clears
    it."""

    type: Literal["task.tables.set"] = "task.tables.set"
    task_id: TaskIdField
    reads: Annotated[frozenset[TableNameField], Field(max_length=MAX_TABLES_PER_TASK)] | None = None
    writes: Annotated[frozenset[TableNameField], Field(max_length=MAX_TABLES_PER_TASK)] | None = None

    @model_validator(mode="after")
    def _one_side_given(self) -> SetTaskTables:
        if self.reads is None and self.writes is None:
            raise ValueError("at least one of reads or writes must be given")
        return self


class RemoveTask(_Command):
    """The task no longer exists: drop its relations; its neighbours lose it as a dependency."""

    type: Literal["task.removed"] = "task.removed"
    task_id: TaskIdField


class TableLineageEdge(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    source: TableNameField
    target: TableNameField

    @model_validator(mode="after")
    def _not_a_loop(self) -> TableLineageEdge:
        if self.source == self.target:
            raise ValueError(f"table lineage edge from {self.source!r} to itself")
        return self

    def as_tuple(self) -> TableEdge:
        return (self.source, self.target)


class AddTableLineage(_Command):
    """Table→table lineage edges observed (by a catalog, a SQL parser, a replication tool...)."""

    type: Literal["table.lineage.added"] = "table.lineage.added"
    edges: Annotated[tuple[TableLineageEdge, ...], Field(min_length=1, max_length=MAX_EDGES_PER_COMMAND)]


class RemoveTableLineage(_Command):
    """Table→table lineage edges that no longer hold."""

    type: Literal["table.lineage.removed"] = "table.lineage.removed"
    edges: Annotated[tuple[TableLineageEdge, ...], Field(min_length=1, max_length=MAX_EDGES_PER_COMMAND)]


LineageChange = Annotated[
    SetTaskTables | RemoveTask | AddTableLineage | RemoveTableLineage, Field(discriminator="type")
]
NATIVE_TYPES = frozenset({"task.tables.set", "task.removed", "table.lineage.added", "table.lineage.removed"})

_ADAPTER: TypeAdapter[LineageChange] = TypeAdapter(LineageChange)


def parse_lineage_change(payload: Mapping[str, Any] | str | bytes) -> LineageChange:
    """Validate one native command. Raises :class:`InvalidLineageMessage` (a poison message) when it is not one."""
    try:
        if isinstance(payload, str | bytes):
            return _ADAPTER.validate_json(payload)
        return _ADAPTER.validate_python(dict(payload))
    except ValidationError as exc:
        raise InvalidLineageMessage(
            f"not a valid lineage command: {exc.error_count()} error(s): {_first_error(exc)}"
        ) from exc


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    return f"{loc}: {err['msg']}" if loc else str(err["msg"])
