"""The running platform for the lifecycle state machine: ``tests/platform_stack.py`` without the portal, the DS
emulator's runs finishing within a fraction of a second, and the DS datasource the machine's SQL tasks name.

History-sync's cache never changes by the clock during a run (no periodic sync, an hour before a cache counts as
stale): what the executions show then depends only on what the platform does (a first read, run now marking the cache
stale), not on how long the steps took, so a failing sequence replays the same while hypothesis shrinks it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.platform_stack import ROOT, PlatformStack, StackOptions, running_platform

from .machine import DATASOURCE

LOG_DIR = ROOT / "test-artifacts" / "stateful" / "logs"


@pytest.fixture(scope="session")
def lifecycle_stack(postgres_admin_url: str, kafka_bootstrap: str) -> Iterator[PlatformStack]:
    options = StackOptions(
        name="sm",
        log_dir=LOG_DIR,
        emulator_timing={"submitDelaySeconds": 0.05, "dispatchDelaySeconds": 0.05, "taskDurationSeconds": 0.1},
        service_env={
            "history-sync": {"HISTORY_SYNC_ENABLED": "false", "HISTORY_STALE_AFTER_S": "3600"},
        },
    )
    with running_platform(postgres_admin_url, kafka_bootstrap, options) as stack:
        stack.emulator.add_datasource(DATASOURCE, "POSTGRESQL")
        yield stack
