"""What arrives on ``lineage.changed`` and how it becomes domain commands (translation at the boundary).

Three forms share the topic:

1. **Our envelope** (primary): a CloudEvents envelope with ``common.events.LineageChanged``; decoded by the common
   registry and mapped by :func:`commands_from_event`.
2. **OpenLineage ``RunEvent`` JSON**, not wrapped: recognised by :class:`ForeignLineageDecoder` (an object with
   ``run`` and ``job``) and validated; whether it updates lineage is decided with the configured
   :class:`OpenLineageConfig`, which task it belongs to by the handler (the job → task rules are data:
   ``openlineage_jobs``). The synthetic envelope's id is derived from ``runId`` + ``eventType`` + ``eventTime``, so
   a redelivered or re-sent RunEvent (over Kafka or HTTP) is a duplicate.
3. **A bare native command** (``parse_lineage_change`` JSON, e.g. ``{"type": "task.tables.set", ...}``): it carries
   no id, so the synthetic id is the record's position (topic, partition, offset): a redelivery of the same record
   is a duplicate, while a later identical command is applied again (harmless: commands are idempotent).

Anything else goes to the DLQ with the reason (domain errors are ``PoisonMessage``).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC
from typing import Any, ClassVar

from common.consumer import Record
from common.events import Envelope, Event, LineageChanged, Topics
from lineage_resolver.domain import (
    InvalidLineageMessage,
    LineageChange,
    OpenLineageConfig,
    RunEvent,
    ignored_reason,
    parse_lineage_change,
    parse_run_event,
)
from lineage_resolver.domain.commands import NATIVE_TYPES

#: namespace of the uuid5 ids of OpenLineage RunEvents (fixed forever: changing it would re-apply old events)
OPENLINEAGE_ID_NAMESPACE = uuid.UUID("7d0b8a52-3c58-4b8e-9a51-2f7e0c7b6c11")


class DecodedLineage(Event):
    """A foreign ``lineage.changed`` record already turned into commands (never serialized onto a topic)."""

    TYPE: ClassVar[str] = "lineage-resolver.decoded-lineage"
    TOPIC: ClassVar[str] = Topics.LINEAGE_CHANGED

    origin: str
    changes: tuple[LineageChange, ...]
    ignored_reason: str | None = None
    #: an OpenLineage RunEvent that updates lineage: the handler maps its job to a task (or parks it)
    run_event: RunEvent | None = None

    def key(self) -> str:
        return "lineage"


def commands_from_event(event: LineageChanged) -> tuple[LineageChange, ...]:
    """Map our ``LineageChanged`` to domain commands: edge removals, edge additions, then the task part.

    Raises :class:`InvalidLineageMessage` for an event that is contradictory or changes nothing.
    """
    added = {(e.source_table, e.target_table) for e in event.table_edges_added}
    removed = {(e.source_table, e.target_table) for e in event.table_edges_removed}
    if added & removed:
        both = sorted(added & removed)[0]
        raise InvalidLineageMessage(f"table edge {both[0]!r} -> {both[1]!r} is both added and removed")
    out: list[LineageChange] = []
    if removed:
        out.append(parse_lineage_change({"type": "table.lineage.removed", "edges": _edges(removed)}))
    if added:
        out.append(parse_lineage_change({"type": "table.lineage.added", "edges": _edges(added)}))
    has_tables = event.read_tables is not None or event.write_tables is not None
    if event.task_removed or has_tables:
        if event.task_id is None:
            raise InvalidLineageMessage("read_tables, write_tables and task_removed need a task_id")
        if event.task_removed and has_tables:
            raise InvalidLineageMessage("task_removed cannot be combined with read_tables or write_tables")
        if event.task_removed:
            out.append(parse_lineage_change({"type": "task.removed", "task_id": event.task_id}))
        else:
            out.append(
                parse_lineage_change(
                    {
                        "type": "task.tables.set",
                        "task_id": event.task_id,
                        "reads": event.read_tables,
                        "writes": event.write_tables,
                    }
                )
            )
    elif event.task_id is not None:
        raise InvalidLineageMessage("task_id given without read_tables, write_tables or task_removed")
    if not out:
        raise InvalidLineageMessage("lineage change carries no table edges and no task tables")
    return tuple(out)


def _edges(edges: set[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"source": s, "target": t} for s, t in sorted(edges)]


def openlineage_event_id(event: RunEvent) -> str:
    """Deterministic id of a RunEvent: the same run, event type and time always give the same id."""
    moment = event.event_time if event.event_time.tzinfo is None else event.event_time.astimezone(UTC)
    name = f"{event.run.run_id}|{event.event_type.value}|{moment.isoformat()}"
    return f"openlineage:{uuid.uuid5(OPENLINEAGE_ID_NAMESPACE, name)}"


class ForeignLineageDecoder:
    """``ConsumerRuntime.foreign_decoder`` for ``lineage.changed``: returns ``None`` for our own envelopes (and for
    bytes that are not JSON, so the registry reports them), decodes OpenLineage and bare native commands."""

    def __init__(self, config: OpenLineageConfig, *, topic: str | None = None) -> None:
        self._config = config
        self._topic = topic

    def __call__(self, record: Record) -> tuple[Envelope, Event] | None:
        if self._topic is not None and record.topic != self._topic:
            return None
        try:
            data: Any = json.loads(record.value)
        except ValueError:
            return None
        if isinstance(data, dict) and "specversion" in data:
            return None
        if not isinstance(data, dict):
            raise InvalidLineageMessage(
                "payload is neither a CloudEvents envelope, a native lineage command nor an OpenLineage RunEvent "
                "(not a JSON object)"
            )
        if data.get("type") in NATIVE_TYPES:
            return self._native(record, data)
        if "run" in data and "job" in data:
            return self._openlineage(data)
        raise InvalidLineageMessage(
            "payload is neither a CloudEvents envelope, a native lineage command nor an OpenLineage RunEvent"
        )

    def _native(self, record: Record, data: dict[str, Any]) -> tuple[Envelope, Event]:
        command = parse_lineage_change(data)
        envelope = Envelope(
            id=f"lineage-native:{record.topic}:{record.partition}:{record.offset}",
            type=f"lineage.native.{command.type}",
            source="/lineage.changed/native",
            data=data,
        )
        return envelope, DecodedLineage(origin="native", changes=(command,))

    def _openlineage(self, data: dict[str, Any]) -> tuple[Envelope, Event]:
        event = parse_run_event(data)
        reason = ignored_reason(event, self._config)
        time = event.event_time if event.event_time.tzinfo is not None else event.event_time.replace(tzinfo=UTC)
        envelope = Envelope(
            id=openlineage_event_id(event),
            type="io.openlineage.RunEvent",
            source=event.producer or "openlineage",
            time=time,
            subject=f"{event.job.namespace}/{event.job.name}",
            data=data,
        )
        decoded = DecodedLineage(
            origin="openlineage", changes=(), ignored_reason=reason, run_event=event if reason is None else None
        )
        return envelope, decoded
