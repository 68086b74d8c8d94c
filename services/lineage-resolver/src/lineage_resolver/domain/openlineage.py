"""OpenLineage ``RunEvent`` → native lineage commands.

Decisions (see also the package docstring):

- **Which events update lineage.** By default only ``COMPLETE``: a successful run's inputs and outputs are what the
  job really reads and writes. ``START``/``RUNNING`` may carry partial or planned datasets (integrations add them as
  they go), ``FAIL``/``ABORT`` describe runs that may have stopped before writing, ``OTHER`` is metadata. The set is
  configurable (``OpenLineageConfig.update_on``). Ignored events are *not* errors: the consumer acks them; their
  job need not be mapped (so START/RUNNING traffic of jobs we do not manage never reaches the DLQ).
- **What an updating event means.** It *replaces* the task's read set (inputs) and write set (outputs) — one
  ``SetTaskTables`` — since the last successful run is the current truth. An updating event with no inputs and no
  outputs is ignored rather than read as "reads and writes nothing": many integrations send datasets on START only.
  Input→output pairs of a job are *not* stored as table lineage: a mapped job is a platform task, and its
  reads/writes already express that flow; ``data_lineage`` is for flows outside the platform.
- **Dataset → table name.** ``<namespace>/<name>``: the namespace's scheme and authority are lower-cased (they are
  case-insensitive in URIs), trailing ``/`` dropped, and an optional alias map rewrites whole namespaces (e.g.
  ``hive://metastore-1:9083`` → ``hive``) so several producers agree; the name is kept as is (object-store paths and
  quoted identifiers are case-sensitive) except for leading ``/``. Native producers send the same form.
- **Job → task.** An exact ``(namespace, name)`` match first, then pattern rules in order: a regex (full match) on
  the job name, optionally limited to one namespace, with a named group ``task_id``. The rules are data
  (:class:`MappingRules`: a task's job identity and the pattern rules managed through the API); the configured
  ``OpenLineageConfig`` rules (``LINEAGE_OPENLINEAGE``) are seed rules consulted after the stored ones of the same
  kind. A job no rule maps is *parked* by the service with its datasets (not dead-lettered): a person maps it and its
  pending lineage is applied then.
- Unknown fields are ignored at every level; an unknown ``eventType`` value counts as ``OTHER``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import re2
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from .commands import NATIVE_TYPES, LineageChange, SetTaskTables, parse_lineage_change
from .errors import InvalidLineageMessage, UnmappedOpenLineageJob
from .model import TableName, TaskId

_NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class EventType(StrEnum):
    START = "START"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    ABORT = "ABORT"
    FAIL = "FAIL"
    OTHER = "OTHER"


class _OpenLineageModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class Job(_OpenLineageModel):
    namespace: _NonEmpty
    name: _NonEmpty


class Run(_OpenLineageModel):
    run_id: _NonEmpty = Field(alias="runId")


class Dataset(_OpenLineageModel):
    namespace: _NonEmpty
    name: _NonEmpty


class RunEvent(_OpenLineageModel):
    """The parts of an OpenLineage ``RunEvent`` the resolver uses (facets are ignored)."""

    event_type: EventType = Field(default=EventType.OTHER, alias="eventType")
    event_time: datetime = Field(alias="eventTime")
    producer: str | None = None
    schema_url: str | None = Field(default=None, alias="schemaURL")
    run: Run
    job: Job
    inputs: tuple[Dataset, ...] = ()
    outputs: tuple[Dataset, ...] = ()

    @field_validator("event_type", mode="before")
    @classmethod
    def _unknown_type_is_other(cls, value: object) -> object:
        if value is None:
            return EventType.OTHER
        if isinstance(value, str) and value.upper() in EventType.__members__:
            return value.upper()
        return EventType.OTHER

    @field_validator("inputs", "outputs", mode="before")
    @classmethod
    def _null_is_empty(cls, value: object) -> object:
        return () if value is None else value


class JobMapping(BaseModel):
    """One exact job → task mapping."""

    model_config = ConfigDict(frozen=True)

    namespace: _NonEmpty
    name: _NonEmpty
    task_id: Annotated[int, Field(ge=1)]


@functools.lru_cache(maxsize=1024)
def _compile_rule(value: str) -> Any:
    """A rule's regex, compiled by RE2: people type these rules and every event's job name is matched against them, so
    matching takes linear time whatever the rule (no backtracking; back-references and look-arounds are refused)."""
    try:
        return re2.compile(value)
    except re2.error as exc:
        raise ValueError(f"invalid regex {value!r} (RE2 syntax, no back-references or look-arounds): {exc}") from exc


class JobPattern(BaseModel):
    """A rule mapping job names to tasks: ``name_regex`` must fully match the job name and define a named group
    ``task_id`` (digits); ``namespace`` limits the rule to one job namespace (``None``: any)."""

    model_config = ConfigDict(frozen=True)

    name_regex: str
    namespace: str | None = None

    @field_validator("name_regex")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        compiled = _compile_rule(value)
        if "task_id" not in compiled.groupindex:
            raise ValueError(f"regex {value!r} has no named group 'task_id'")
        return value

    def match(self, namespace: str, name: str) -> TaskId | None:
        if self.namespace is not None and self.namespace != namespace:
            return None
        found = _compile_rule(self.name_regex).fullmatch(name)
        if found is None:
            return None
        raw = found.group("task_id")
        if raw is None or not raw.isdigit() or int(raw) < 1:
            return None
        return int(raw)


class OpenLineageConfig(BaseModel):
    """Configuration of the OpenLineage translation (validated at start-up: bad config fails there)."""

    model_config = ConfigDict(frozen=True)

    jobs: tuple[JobMapping, ...] = ()
    patterns: tuple[JobPattern, ...] = ()
    namespace_aliases: dict[str, str] = Field(default_factory=dict)
    update_on: frozenset[EventType] = frozenset({EventType.COMPLETE})

    _exact: dict[tuple[str, str], TaskId] = PrivateAttr(default_factory=dict)
    _aliases: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _index(self) -> OpenLineageConfig:
        exact: dict[tuple[str, str], TaskId] = {}
        for mapping in self.jobs:
            key = (mapping.namespace, mapping.name)
            if exact.setdefault(key, mapping.task_id) != mapping.task_id:
                raise ValueError(f"job {key[0]!r}/{key[1]!r} is mapped to two tasks")
        self._exact = exact
        self._aliases = {normalize_namespace(k): normalize_namespace(v) for k, v in self.namespace_aliases.items()}
        return self

    def exact_task(self, job: Job) -> TaskId | None:
        return self._exact.get((job.namespace, job.name))

    def task_for(self, job: Job) -> TaskId:
        """The platform task of ``job``; raises :class:`UnmappedOpenLineageJob`."""
        found = self._exact.get((job.namespace, job.name))
        if found is not None:
            return found
        for pattern in self.patterns:
            found = pattern.match(job.namespace, job.name)
            if found is not None:
                return found
        raise UnmappedOpenLineageJob(job.namespace, job.name)

    def table_name(self, dataset: Dataset) -> TableName:
        return qualified_table_name(dataset.namespace, dataset.name, self._aliases)


#: longest job namespace / name / regex a stored rule may hold
MAX_JOB_FIELD = 1024


@dataclass(frozen=True, slots=True)
class StoredPattern:
    """A pattern rule kept as data (its ``position`` orders the rules; ``id`` names it in the API)."""

    id: int
    position: int
    rule: JobPattern


@dataclass(frozen=True, slots=True)
class MappingRules:
    """Job → task rules: the stored ones (exact identities of tasks, pattern rules in position order) first, each
    kind before the configured seed rules of the same kind."""

    exact: Mapping[tuple[str, str], TaskId]
    patterns: Sequence[JobPattern]
    seed: OpenLineageConfig

    def task_for(self, job: Job) -> TaskId | None:
        """The task of ``job`` or ``None`` when no rule maps it."""
        found = self.exact.get((job.namespace, job.name))
        if found is not None:
            return found
        found = self.seed.exact_task(job)
        if found is not None:
            return found
        for pattern in (*self.patterns, *self.seed.patterns):
            found = pattern.match(job.namespace, job.name)
            if found is not None:
                return found
        return None


def validate_pattern(name_regex: str, namespace: str | None) -> JobPattern:
    """A pattern rule from API input; raises ``ValueError`` naming the field."""
    if not name_regex or len(name_regex) > MAX_JOB_FIELD:
        raise ValueError(f"name_regex: 1 to {MAX_JOB_FIELD} characters")
    if namespace is not None and (not namespace.strip() or len(namespace) > MAX_JOB_FIELD):
        raise ValueError(f"namespace: 1 to {MAX_JOB_FIELD} characters, or null for any namespace")
    try:
        return JobPattern(name_regex=name_regex, namespace=namespace.strip() if namespace is not None else None)
    except ValidationError as exc:
        raise ValueError(f"name_regex: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None


def tables_of_run_event(
    event: RunEvent, config: OpenLineageConfig
) -> tuple[frozenset[TableName], frozenset[TableName]]:
    """The (reads, writes) an updating RunEvent states, in the platform's table names."""
    return (
        frozenset(config.table_name(d) for d in event.inputs),
        frozenset(config.table_name(d) for d in event.outputs),
    )


def ignored_reason(event: RunEvent, config: OpenLineageConfig) -> str | None:
    """Why ``event`` changes no lineage whatever its job maps to (``None``: it updates its task's tables)."""
    if event.event_type not in config.update_on:
        return f"eventType {event.event_type} does not update lineage"
    if not event.inputs and not event.outputs:
        return "event carries no input or output datasets"
    return None


def normalize_namespace(namespace: str) -> str:
    ns = namespace.strip().rstrip("/")
    scheme, sep, rest = ns.partition("://")
    if not sep:
        return ns
    authority, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{authority.lower()}{slash}{path}"


def qualified_table_name(namespace: str, name: str, aliases: Mapping[str, str] | None = None) -> TableName:
    """``<namespace>/<name>`` in the platform's normal form (see the module docstring)."""
    ns = normalize_namespace(namespace)
    if aliases:
        ns = aliases.get(ns, ns)
    return f"{ns}/{name.strip().lstrip('/')}"


@dataclass(frozen=True, slots=True)
class OpenLineageTranslation:
    """The commands one RunEvent turns into; empty with ``ignored_reason`` when it changes nothing."""

    event: RunEvent
    task_id: TaskId | None
    changes: tuple[SetTaskTables, ...]
    ignored_reason: str | None = None


def parse_run_event(payload: Mapping[str, Any] | str | bytes) -> RunEvent:
    """Validate an OpenLineage RunEvent; raises :class:`InvalidLineageMessage`."""
    try:
        if isinstance(payload, str | bytes):
            return RunEvent.model_validate_json(payload)
        return RunEvent.model_validate(dict(payload))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise InvalidLineageMessage(f"not a valid OpenLineage RunEvent: {loc}: {err['msg']}") from exc


def translate_run_event(event: RunEvent, config: OpenLineageConfig) -> OpenLineageTranslation:
    """Map a RunEvent to a ``SetTaskTables`` for its task (or to nothing, with the reason)."""
    reason = ignored_reason(event, config)
    if reason is not None:
        return OpenLineageTranslation(event, None, (), reason)
    task_id = config.task_for(event.job)
    reads, writes = tables_of_run_event(event, config)
    change = SetTaskTables(task_id=task_id, reads=reads, writes=writes)
    return OpenLineageTranslation(event, task_id, (change,))


def decode_lineage_payload(
    payload: Mapping[str, Any] | str | bytes, config: OpenLineageConfig
) -> tuple[LineageChange, ...]:
    """One ``lineage.changed`` payload (native command or OpenLineage RunEvent) → the commands to apply.

    A payload with a known native ``type`` is a native command; one with ``run`` and ``job`` is a RunEvent; anything
    else raises :class:`InvalidLineageMessage`. Ignored RunEvents yield ``()``.
    """
    data: Any = payload
    if isinstance(payload, str | bytes):
        try:
            data = json.loads(payload)
        except ValueError as exc:
            raise InvalidLineageMessage(f"payload is not JSON: {exc}") from exc
        except RecursionError:  # the parser recurses per nesting level
            raise InvalidLineageMessage("payload is JSON nested too deeply") from None
    if not isinstance(data, Mapping):
        raise InvalidLineageMessage("payload is not a JSON object")
    if data.get("type") in NATIVE_TYPES:
        return (parse_lineage_change(data),)
    if "run" in data and "job" in data:
        return translate_run_event(parse_run_event(data), config).changes
    raise InvalidLineageMessage("payload is neither a native lineage command nor an OpenLineage RunEvent")
