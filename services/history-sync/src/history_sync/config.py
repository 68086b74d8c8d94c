"""Settings of the history-sync service (env prefix ``HISTORY_``)."""

from __future__ import annotations

import os
import socket

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from common.migrations import migrations_of
from common.settings import ServiceSettings

MIGRATIONS = migrations_of("history_sync")


def _default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HISTORY_", extra="ignore", env_file=None, populate_by_name=True)

    service_name: str = "history-sync"
    #: PostgreSQL schema owned by this service (tests use one schema per test)
    db_schema: str = "history"

    # DolphinScheduler REST
    ds_rest_url: str = "http://127.0.0.1:12345/dolphinscheduler"
    ds_token: SecretStr = SecretStr("")
    ds_timeout_s: float = Field(default=10.0, gt=0)
    #: attempts per GET inside one sync (the DS client retries transient errors with backoff)
    ds_read_attempts: int = Field(default=2, ge=1, le=5)
    #: at most this many DS calls in flight (sync cycle and on-demand calls together)
    ds_concurrency: int = Field(default=16, ge=1, le=512)
    #: token bucket toward DS: requests per second (0 = unlimited) and burst size
    ds_rate_per_s: float = Field(default=100.0, ge=0)
    ds_burst: int = Field(default=16, ge=1)

    # Periodic sync
    sync_enabled: bool = True
    sync_interval_s: float = Field(default=300.0, gt=0)
    #: a workflow offline in DS is still synced for this long after it went offline
    offline_grace_s: float = Field(default=7 * 86400.0, ge=0)
    #: how long a claimed workflow stays leased; must be shorter than the interval so that a crashed replica's
    #: work is picked up in the same or the next cycle
    lease_s: float = Field(default=60.0, gt=0)
    claim_batch_size: int = Field(default=32, ge=1, le=1000)
    #: batches processed at once by one replica (claim -> fetch -> write pipelines)
    sync_lanes: int = Field(default=4, ge=1, le=64)
    #: how often an idle replica looks for due workflows
    poll_interval_s: float = Field(default=5.0, gt=0)
    replica_id: str = Field(default_factory=_default_replica_id)
    #: keep a ``sync_run`` row per workflow sync (proof of once-per-cycle); pruned after the retention
    record_sync_runs: bool = True
    sync_run_retention_s: float = Field(default=86400.0, gt=0)

    # On-demand API
    stale_after_s: float = Field(default=60.0, gt=0)
    #: … but this soon when the newest run was still going at the last sync (its end shows within seconds)
    running_stale_after_s: float = Field(default=5.0, gt=0)
    batch_max_ids: int = Field(default=500, ge=1)
    #: task-level metrics: at most this many finished runs per workflow and sync have their task instances read
    #: (newest first; the rest in the next syncs), so that the first cycle after an upgrade or a burst of runs stays
    #: bounded toward DS; 0 turns the task reads off
    task_reads_per_sync: int = Field(default=3, ge=0, le=10)

    # Failure rules
    streak_threshold: int = Field(default=3, ge=1, le=10)
    rate_window: int = Field(default=10, ge=1, le=10)
    rate_threshold: float = Field(default=0.5, ge=0.0, lt=1.0)
    rate_min_finished: int = Field(default=5, ge=1, le=10)

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.lease_s >= self.sync_interval_s:
            raise ValueError("lease_s must be shorter than sync_interval_s")
        if self.rate_min_finished > self.rate_window:
            raise ValueError("rate_min_finished must not exceed rate_window")
        return self
