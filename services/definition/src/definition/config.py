"""Settings of the definition service (env prefix ``DEFINITION_``; ``KAFKA_BOOTSTRAP_SERVERS`` is shared)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from common.migrations import migrations_of
from common.settings import ServiceSettings

MIGRATIONS = migrations_of("definition")


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEFINITION_", extra="ignore", env_file=None, populate_by_name=True)

    service_name: str = "definition"
    http_port: int = Field(default=8101, ge=0, le=65535)
    db_schema: str = Field(default="definition", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    #: the actor recorded for versions written by the ``task.dependency.changed`` consumer
    lineage_actor: str = Field(default="lineage-resolver", min_length=1)
    #: Python's young-generation GC threshold for this process (default 700). A 2,000-task edit allocates hundreds
    #: of thousands of objects, nearly all freed by reference counting when it ends; with the default the collector
    #: runs hundreds of times per request, and even at 50,000 once per request (20-150 ms, walking everything the
    #: request holds). At 300,000 a request's peak stays below it, so collections are rare and not tied to requests.
    #: 0 keeps the interpreter's setting.
    gc_threshold: int = Field(default=300_000, ge=0)
    #: after start, move every object built so far to the collector's permanent generation (``gc.freeze``): a full
    #: collection then walks only what requests created, not the ~300,000 objects of the loaded modules and schemas
    gc_freeze: bool = True
    #: connections of the list reads' own pool (``common.db.ReadPool``; opened on demand), besides the main pool's
    read_pool_size: int = Field(default=20, ge=1, le=100)
    #: lineage-resolver's URL, read by ``python -m definition sync-dependencies`` (never at request time)
    lineage_url: str = Field(default="http://127.0.0.1:8104", pattern=r"^https?://[^\s]+$")
    #: history-sync's URL, read by ``python -m definition sync-executions`` (never at request time)
    history_url: str = Field(default="http://127.0.0.1:8103", pattern=r"^https?://[^\s]+$")
    #: the publisher's URL: a SQL task's datasource is looked up in DolphinScheduler when the task is saved (empty:
    #: no check)
    publisher_url: str = Field(default="http://127.0.0.1:8102", pattern=r"^(https?://[^\s]+)?$")
    #: how long a save waits for that lookup; past it the answer carries a warning instead
    datasource_check_timeout_s: float = Field(default=2.0, gt=0, le=30)
    #: ``task.dependency.changed`` records per poll: a partition's records of one poll are applied in one transaction
    #: (the projection and the flags set-based, one version per workflow, the proposals once); a lineage storm of
    #: thousands of events otherwise costs a transaction of about ten statements each. 1: one event per transaction
    dependency_batch_size: int = Field(default=200, ge=1, le=1_000)
    #: how many tasks' worth of version snapshots the in-process cache keeps (see ``definition.snapshots``)
    snapshot_cache_tasks: int = Field(default=10_000, ge=0)
    #: auto-orchestration (issue 20): the most tasks a proposed workflow holds; larger groups of connected tasks are
    #: split along the cuts that sever the fewest dependencies (``definition.domain.grouping``)
    proposal_max_size: int = Field(default=200, ge=2, le=2_000)
