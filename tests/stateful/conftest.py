"""The running platform for the lifecycle state machine: the services as OS processes (``devstack.stack``, the
harness of the browser test and the security probes, without alerting: the machine checks no alert) on the session's
PostgreSQL and Kafka, a DS emulator of its own whose runs finish within a fraction of a second, and the DS
datasource the machine's SQL tasks name.

History-sync's cache never changes by the clock during a run (no periodic sync, an hour before a cache counts as
stale): what the executions show then depends only on what the platform does (a first read, a run marking the cache
stale), not on how long the steps took, so a failing sequence replays the same while hypothesis shrinks it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.paths import repo_root
from devstack.stack import QUICK, DsEndpoint, Stack, merge_env
from ds_emulator import EmulatorProcess

from .driver import LifecycleStack
from .machine import DATASOURCE, DATASOURCE_TYPE

LOG_DIR = repo_root() / "test-artifacts" / "stateful" / "logs"


@pytest.fixture(scope="session")
def lifecycle_stack(postgres_admin_url: str, kafka_bootstrap: str) -> Iterator[LifecycleStack]:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    for old in LOG_DIR.glob("*.log"):
        old.unlink()
    with EmulatorProcess(log_path=LOG_DIR / "ds-emulator.log") as emulator:
        emulator.configure(submitDelaySeconds=0.05, dispatchDelaySeconds=0.05, taskDurationSeconds=0.1)
        emulator.add_datasource(DATASOURCE, DATASOURCE_TYPE)
        stack = Stack(
            postgres_admin_url,
            kafka_bootstrap,
            DsEndpoint.of(emulator, "sm-platform"),
            LOG_DIR,
            ("definition", "publisher", "history-sync", "lineage-resolver", "gateway"),
            merge_env(QUICK, {"history-sync": {"HISTORY_SYNC_ENABLED": "false", "HISTORY_STALE_AFTER_S": "3600"}}),
            tag="sm",
            emulator=emulator,
        )
        with stack.started():
            yield LifecycleStack(stack, emulator)
