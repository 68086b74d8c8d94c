"""Registry of event types: (type, version) → model, plus upcasters from older versions.

``encode`` wraps a payload in the envelope; ``decode`` turns wire bytes back into the newest model for that type,
raising ``PoisonMessage`` with a precise reason when the bytes can never become an event (bad JSON, envelope or
schema violation, unknown type or version). Consumers send such messages to the DLQ.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
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
    WorkflowExecutionFailed,
    WorkflowVersionCreated,
)

E = TypeVar("E", bound=Event)
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


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
        fields: dict[str, Any] = {
            "type": event.TYPE,
            "source": source,
            "subject": subject if subject is not None else event.key(),
            "dataversion": event.VERSION,
            "data": event.model_dump(mode="json"),
        }
        if event_id is not None:
            fields["id"] = event_id
        return Envelope(**fields)

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
    ExecutionSynced,
    WorkflowExecutionFailed,
)

registry = EventRegistry(ALL_EVENTS)
