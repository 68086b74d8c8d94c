"""The bodies of ``POST /api/v1/lineage`` and of the OpenLineage job mapping routes, checked at the edge.

``POST /api/v1/lineage`` takes what the OpenLineage HTTP transport sends (``openlineage-python``'s
``HttpTransport``, and the Java client the Spark and Flink integrations use, alike): a ``RunEvent`` as JSON, POSTed to
``<url>/api/v1/lineage`` with ``Authorization: Bearer <api key>``, optionally gzip-compressed
(``Content-Encoding: gzip``, the transport's ``compression: gzip``). It also takes the platform's native lineage
commands (``{"type": "task.tables.set", ...}``, the same as on ``lineage.changed``). The lineage-resolver stays the
judge (it maps the job to a task, or parks it); the checks here only name the field of a malformed body at once.
``DatasetEvent`` and ``JobEvent`` (static lineage, OpenLineage 2) carry no run: they are answered as ignored.
"""

from __future__ import annotations

import json
import re
import zlib
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from common.bounds import INT8_MAX
from common.errors import DomainError, PayloadTooLarge, ValidationFailed
from common.http import holds_nul

MAX_DATASETS = 10_000
MAX_TABLES = 10_000
MAX_EDGES = 10_000

NATIVE_TYPES = ("task.tables.set", "task.removed", "table.lineage.added", "table.lineage.removed")

_Text = Annotated[str, Field(min_length=1, max_length=1024)]


class UnsupportedEncoding(DomainError):
    status = 415
    code = "unsupported-media-type"
    title = "Unsupported content encoding"


class _Open(BaseModel):
    #: OpenLineage facets and fields of later spec versions pass (the lineage-resolver ignores them)
    model_config = ConfigDict(extra="allow")


class OpenLineageJob(_Open):
    namespace: _Text
    name: _Text


class OpenLineageRun(_Open):
    run_id: _Text = Field(alias="runId")


class OpenLineageDataset(_Open):
    namespace: _Text
    name: _Text


class RunEventIn(_Open):
    """An OpenLineage ``RunEvent`` (https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent): only
    ``COMPLETE`` events update lineage (by default); the job is mapped to a platform task by the job rules."""

    event_type: str | None = Field(default=None, alias="eventType", max_length=64)
    event_time: datetime = Field(alias="eventTime")
    producer: str | None = Field(default=None, max_length=2048)
    schema_url: str | None = Field(default=None, alias="schemaURL", max_length=2048)
    run: OpenLineageRun
    job: OpenLineageJob
    inputs: list[OpenLineageDataset] | None = Field(default=None, max_length=MAX_DATASETS)
    outputs: list[OpenLineageDataset] | None = Field(default=None, max_length=MAX_DATASETS)


class _Native(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1


class SetTaskTablesIn(_Native):
    """Replace a task's read set and/or write set (``null``/absent: that side stays)."""

    type: Literal["task.tables.set"]
    task_id: int = Field(ge=1, le=INT8_MAX)
    reads: list[_Text] | None = Field(default=None, max_length=MAX_TABLES)
    writes: list[_Text] | None = Field(default=None, max_length=MAX_TABLES)

    @model_validator(mode="after")
    def _one_side(self) -> SetTaskTablesIn:
        if self.reads is None and self.writes is None:
            raise ValueError("give reads and/or writes")
        return self


class RemoveTaskIn(_Native):
    type: Literal["task.removed"]
    task_id: int = Field(ge=1, le=INT8_MAX)


class TableEdgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: _Text
    target: _Text


class TableLineageIn(_Native):
    """Table→table lineage edges observed outside the platform's tasks (added or no longer holding)."""

    type: Literal["table.lineage.added", "table.lineage.removed"]
    edges: list[TableEdgeIn] = Field(min_length=1, max_length=MAX_EDGES)


NativeLineageIn = Annotated[SetTaskTablesIn | RemoveTaskIn | TableLineageIn, Field(discriminator="type")]
_NATIVE: TypeAdapter[SetTaskTablesIn | RemoveTaskIn | TableLineageIn] = TypeAdapter(NativeLineageIn)
_RUN_EVENT: TypeAdapter[RunEventIn] = TypeAdapter(RunEventIn)

#: the request body as documented (``openapi_extra`` of the route: it reads the raw body to handle gzip)
LINEAGE_BODY_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An OpenLineage RunEvent, or a native lineage command; `Content-Encoding: gzip` accepted",
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/RunEventIn"},
                        {"$ref": "#/components/schemas/SetTaskTablesIn"},
                        {"$ref": "#/components/schemas/RemoveTaskIn"},
                        {"$ref": "#/components/schemas/TableLineageIn"},
                    ]
                }
            }
        },
    }
}


def body_schemas() -> dict[str, Any]:
    """The JSON schemas ``LINEAGE_BODY_SCHEMA`` refers to, for the document's ``components.schemas`` (the route reads
    the raw body, so FastAPI does not collect them)."""
    adapter: TypeAdapter[Any] = TypeAdapter(list[RunEventIn | SetTaskTablesIn | RemoveTaskIn | TableLineageIn])
    defs: dict[str, Any] = adapter.json_schema(ref_template="#/components/schemas/{model}")["$defs"]
    return defs


def decode_body(raw: bytes, content_encoding: str | None, *, max_bytes: int) -> Any:
    """The JSON of a request body, gunzipped when it says so (at most ``max_bytes`` once decompressed)."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "gzip":
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            raw = inflater.decompress(raw, max_bytes + 1)
        except zlib.error as exc:
            raise ValidationFailed(f"body: not valid gzip ({exc})", errors=[_error("body", "not valid gzip")]) from None
        if len(raw) > max_bytes or inflater.unconsumed_tail:
            raise PayloadTooLarge(f"the decompressed body is larger than {max_bytes} bytes")
        if not inflater.eof:
            raise ValidationFailed("body: truncated gzip stream", errors=[_error("body", "truncated gzip stream")])
        if holds_nul(raw):  # common.http.RejectNul let the compressed body pass
            raise ValidationFailed(
                "body: contains the NUL character (\\u0000), which cannot be stored: remove it",
                errors=[_error("body", "contains the NUL character")],
            )
    elif encoding != "identity":
        raise UnsupportedEncoding(f"Content-Encoding {encoding!r} is not supported (send identity or gzip)")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"body: not valid JSON ({exc})", errors=[_error("body", "not valid JSON")]) from None
    except RecursionError:  # json.loads recurses per nesting level: '[' * 100_000 fits any size limit
        raise ValidationFailed(
            "body: JSON nested too deeply", errors=[_error("body", "JSON nested too deeply")]
        ) from None


def _error(location: str, message: str) -> dict[str, str]:
    return {"location": location, "message": message}


def _failed(exc: ValidationError, what: str) -> ValidationFailed:
    errors = [_error(".".join(str(p) for p in e.get("loc", ())) or "body", str(e.get("msg", ""))) for e in exc.errors()]
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return ValidationFailed(f"{what}: {first['location']}: {first['message']}{more}", errors=errors)


def classify(body: Any) -> Literal["run_event", "native", "static"]:
    """Which kind of lineage ``body`` is, validated (raises :class:`ValidationFailed` naming the field)."""
    if not isinstance(body, dict):
        raise ValidationFailed(
            "body: a JSON object is needed (an OpenLineage RunEvent or a native lineage command)",
            errors=[_error("body", "not a JSON object")],
        )
    kind = body.get("type")
    if isinstance(kind, str) and kind in NATIVE_TYPES:
        try:
            _NATIVE.validate_python(body)
        except ValidationError as exc:
            raise _failed(exc, "not a valid native lineage command") from None
        return "native"
    if "run" not in body and ("dataset" in body or "job" in body) and "eventTime" in body:
        return "static"  # a DatasetEvent or a JobEvent: no run, nothing to apply to a task
    if "run" in body or "job" in body or "eventTime" in body:
        try:
            _RUN_EVENT.validate_python(body)
        except ValidationError as exc:
            raise _failed(exc, "not a valid OpenLineage RunEvent") from None
        return "run_event"
    raise ValidationFailed(
        "body: neither an OpenLineage RunEvent (run, job, eventTime) nor a native lineage command (type: "
        + ", ".join(NATIVE_TYPES)
        + ")",
        errors=[_error("type", "unknown kind of lineage")],
    )


class JobPatternIn(BaseModel):
    """A rule mapping OpenLineage job names to tasks."""

    model_config = ConfigDict(extra="forbid")

    #: a regular expression that must match the whole job name, with a named group ``task_id`` (digits), e.g.
    #: ``etl\\.task_(?P<task_id>\\d+)``
    name_regex: _Text
    #: only jobs of this namespace (``null``: any)
    namespace: _Text | None = None
    #: 1 = tried first; ``null``: last (create) or unchanged (update)
    position: int | None = Field(default=None, ge=1, le=100_000)

    @field_validator("name_regex")
    @classmethod
    def _a_regex_with_task_id(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        if "task_id" not in compiled.groupindex:
            raise ValueError("the regular expression needs a named group 'task_id', e.g. (?P<task_id>\\d+)")
        return value
