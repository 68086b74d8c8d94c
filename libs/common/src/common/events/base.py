"""Base class of every event payload."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    """A versioned, immutable event payload.

    ``TYPE`` names the event (CloudEvents ``type``), ``VERSION`` the payload version, ``TOPIC`` where it is produced.
    Consumers ignore unknown fields (``extra="ignore"``) so additive changes never break them; a breaking change is a
    new ``VERSION`` with an upcaster from the old one (see ``registry``).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str]

    def key(self) -> str:
        """Kafka key: the aggregate id that orders this event."""
        raise NotImplementedError


class Part(BaseModel):
    """A nested part of an event payload (no type or topic of its own)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
