"""The running platform for the lifecycle state machine: the services as OS processes
(``common.testing.processes.PlatformProcesses``, without alerting: the machine checks no alert) on the session's
PostgreSQL and Kafka, a DS emulator of its own whose runs finish within a fraction of a second, and the DS
datasource the machine's SQL tasks name.

History-sync's cache never changes by the clock during a run (no periodic sync, an hour before a cache counts as
stale): what the executions show then depends only on what the platform does (a first read, a run marking the cache
stale), not on how long the steps took, so a failing sequence replays the same while hypothesis shrinks it."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator

import pytest

from common.testing.processes import ROOT, SERVICES, DsEndpoint, PlatformProcesses
from ds_emulator import EmulatorProcess

from .driver import LifecycleStack
from .machine import DATASOURCE, DATASOURCE_TYPE

LOG_DIR = ROOT / "test-artifacts" / "stateful" / "logs"


@pytest.fixture(scope="session")
def lifecycle_stack(postgres_admin_url: str, kafka_bootstrap: str) -> Iterator[LifecycleStack]:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    for old in LOG_DIR.glob("*.log"):
        old.unlink()
    emulator = EmulatorProcess(log_path=LOG_DIR / "ds-emulator.log")
    emulator.start()
    try:
        emulator.configure(submitDelaySeconds=0.05, dispatchDelaySeconds=0.05, taskDurationSeconds=0.1)
        emulator.add_datasource(DATASOURCE, DATASOURCE_TYPE)
        suffix = uuid.uuid4().hex[:8]
        project = f"sm-platform-{suffix}"
        procs = PlatformProcesses(
            admin_url=postgres_admin_url,
            bootstrap=kafka_bootstrap,
            ds=DsEndpoint.of(emulator, project),
            log_dir=LOG_DIR,
            services=tuple(s.name for s in SERVICES if s.name != "alerting"),
            suffix=suffix,
            label="sm",
            admin_token="sm_" + secrets.token_urlsafe(24),
            die_with_parent=True,
            env={
                "publisher": {"PUBLISHER_PUBLISH_POLL_INTERVAL_S": "0.5"},
                "history-sync": {"HISTORY_SYNC_ENABLED": "false", "HISTORY_STALE_AFTER_S": "3600"},
            },
        )
        with procs:
            procs.provision()
            procs.start()
            yield LifecycleStack(procs, emulator, project)
    finally:
        emulator.stop()
