"""The one envelope every event travels in: a CloudEvents 1.0 event in structured JSON mode.

Wire format of a Kafka record produced by the platform:
- key: the aggregate id (workflow id, task id …) as UTF-8, so ordering per aggregate holds;
- value: ``{"specversion":"1.0","id":…,"type":…,"source":…,"time":…,"subject":…,"dataversion":N,
  "datacontenttype":"application/json","data":{…}}``;
- headers: ``content-type: application/cloudevents+json``, ``ce_type``, ``ce_id`` (so routers and the DLQ can read them
  without parsing the value) and the W3C trace context (``traceparent``/``tracestate``).

``dataversion`` is our extension attribute: the version of the ``data`` model for that ``type``.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

CONTENT_TYPE = "application/cloudevents+json"


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    specversion: str = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    type: str
    source: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str | None = None
    dataversion: int = 1
    datacontenttype: str = "application/json"
    data: dict[str, Any]

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        """Parse the wire form; raises ``ValueError`` (JSON) or ``pydantic.ValidationError``."""
        return cls.model_validate(json.loads(raw))
