"""Registry of event types: (type, version) → model, plus upcasters from older versions.

``encode`` wraps a payload in the envelope; ``encode_bytes`` produces the same envelope directly as wire bytes,
serialising the payload only once (what the outbox uses; a 2,000-task snapshot is about 1 MB); ``decode`` turns wire
bytes back into the newest model for that type, raising ``PoisonMessage`` with a precise reason when the bytes can
never become an event (bad JSON, envelope or schema violation, unknown type or version). Consumers send such messages
to the DLQ.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError

from common.errors import PoisonMessage
from common.events.base import Event
from common.events.envelope import Envelope
from common.events.models import (
    ExecutionSynced,
    LineageChanged,
    PublishCompleted,
    PublishRequested,
    TaskDependencyChanged,
    TaskOpenLineageJobSet,
    WorkflowExecutionFailed,
    WorkflowRunStarted,
    WorkflowVersionCreated,
)

E = TypeVar("E", bound=Event)
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

#: how an envelope with empty ``data`` ends: ``data`` is its last field, so the payload's JSON is spliced in there
_EMPTY_DATA_TAIL = ',"data":{}}'


@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """An event in its envelope, as wire bytes (``EventRegistry.encode_bytes``)."""

    id: str
    type: str
    value: bytes


class EventRegistry:
    def __init__(self, models: Iterable[type[Event]] = ()) -> None:
        self._models: dict[tuple[str, int], type[Event]] = {}
        self._latest: dict[str, int] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        for m in models:
            self.register(m)

    def register(self, model: type[Event]) -> None:
        self._models[(model.TYPE, model.VERSION)] = model
        self._latest[model.TYPE] = max(self._latest.get(model.TYPE, 0), model.VERSION)

    def register_upcaster(self, event_type: str, from_version: int, fn: Upcaster) -> None:
        """``fn`` turns a payload of ``from_version`` into one of ``from_version + 1``."""
        self._upcasters[(event_type, from_version)] = fn

    def models(self) -> list[type[Event]]:
        return sorted(self._models.values(), key=lambda m: (m.TYPE, m.VERSION))

    def encode(self, event: Event, *, source: str, subject: str | None = None, event_id: str | None = None) -> Envelope:
        return Envelope(**_envelope_fields(event, source, subject, event_id, event.model_dump(mode="json")))

    def encode_bytes(
        self,
        event: Event,
        *,
        source: str,
        subject: str | None = None,
        event_id: str | None = None,
        prepared: Mapping[str, str] | None = None,
    ) -> EncodedEvent:
        """``encode(...).to_bytes()`` without the second pass over the payload: the envelope's attributes are
        serialised with an empty ``data`` and the payload's own ``model_dump_json()`` is spliced in. The bytes parse
        to exactly the envelope ``encode`` builds (same attributes, same ``data``) and ``decode`` reads them.

        ``prepared`` maps payload field names to their JSON, as ``model_dump_json()`` of the value the event holds
        already produced it (e.g. a snapshot the caller serialised to hash it): those fields are not serialised
        again but appended to the payload object. When they are the payload's last fields, in order, the bytes are
        identical to ``encode(...).to_bytes()``.
        """
        header = self.encode_header(event, source=source, subject=subject, event_id=event_id)
        head = header.model_dump_json()
        if not head.endswith(_EMPTY_DATA_TAIL):  # pragma: no cover - the envelope's field order is fixed
            raise AssertionError("the envelope no longer ends with its data field")
        if prepared:
            unknown = prepared.keys() - type(event).model_fields.keys()
            if unknown:
                raise ValueError(f"prepared JSON for fields {sorted(unknown)} that {type(event).__name__} lacks")
            data = event.model_dump_json(exclude=set(prepared))
            extra = ",".join(f"{json.dumps(name)}:{text}" for name, text in prepared.items())
            data = f"{data[:-1]},{extra}}}" if data != "{}" else f"{{{extra}}}"
        else:
            data = event.model_dump_json()
        value = f'{head[: -len(_EMPTY_DATA_TAIL)]},"data":{data}}}'.encode()
        return EncodedEvent(id=header.id, type=header.type, value=value)

    def encode_header(
        self, event: Event, *, source: str, subject: str | None = None, event_id: str | None = None
    ) -> Envelope:
        """The envelope ``encode`` builds, with empty ``data``."""
        return Envelope(**_envelope_fields(event, source, subject, event_id, {}))

    def decode(self, raw: bytes) -> tuple[Envelope, Event]:
        try:
            envelope = Envelope.from_bytes(raw)
        except (ValueError, ValidationError) as exc:
            raise PoisonMessage(f"not a CloudEvents JSON envelope: {_short(exc)}") from exc
        return envelope, self.load(envelope)

    def load(self, envelope: Envelope) -> Event:
        latest = self._latest.get(envelope.type)
        if latest is None:
            raise PoisonMessage(f"unknown event type {envelope.type!r}", event_type=envelope.type)
        version, data = envelope.dataversion, dict(envelope.data)
        if version > latest or (envelope.type, version) not in self._models:
            raise PoisonMessage(
                f"unsupported version {version} of {envelope.type!r} (known up to {latest})",
                event_type=envelope.type,
            )
        while version < latest:
            up = self._upcasters.get((envelope.type, version))
            if up is None:
                raise PoisonMessage(f"no upcaster from version {version} of {envelope.type!r}")
            data, version = up(data), version + 1
        model = self._models[(envelope.type, version)]
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise PoisonMessage(
                f"{envelope.type} v{version} payload violates its schema: {_short(exc)}", event_type=envelope.type
            ) from exc


def _envelope_fields(
    event: Event, source: str, subject: str | None, event_id: str | None, data: dict[str, Any]
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "type": event.TYPE,
        "source": source,
        "subject": subject if subject is not None else event.key(),
        "dataversion": event.VERSION,
        "data": data,
    }
    if event_id is not None:
        fields["id"] = event_id
    return fields


def _short(exc: Exception, limit: int = 500) -> str:
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()[:5]]
        text = "; ".join(parts)
    elif isinstance(exc, json.JSONDecodeError):
        text = f"invalid JSON ({exc.msg} at position {exc.pos})"
    else:
        text = str(exc)
    return text[:limit]


ALL_EVENTS: tuple[type[Event], ...] = (
    WorkflowVersionCreated,
    PublishRequested,
    PublishCompleted,
    LineageChanged,
    TaskDependencyChanged,
    TaskOpenLineageJobSet,
    ExecutionSynced,
    WorkflowExecutionFailed,
    WorkflowRunStarted,
)

registry = EventRegistry(ALL_EVENTS)
