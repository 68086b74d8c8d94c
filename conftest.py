"""Root pytest configuration: shared fixture plugins for every package's tests, test tiers, and the CI skip guard."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest

pytest_plugins = [
    "devstack.pytest_plugin",
    "common.testing.fixtures",
    "common.testing.identity",
]

#: markers of the tests that may be skipped in CI: they need a real DolphinScheduler, which cannot be assembled here
SKIPPABLE_IN_CI = frozenset({"realds"})

#: The tier of a test is the folder it lives in, never a marker set by hand. A package's tests live in
#: ``tests/unit`` (plain Python, no I/O), ``tests/component`` (the package in-process: ASGI transport, in-memory
#: Kafka broker, fakes; PostgreSQL is allowed, it starts in a second) or ``tests/integration`` (real PostgreSQL,
#: Kafka, the DS emulator or other processes). The cross-service suites at the top level are named by what they test;
#: this table says which tier each one is.
TIERS = ("unit", "component", "integration", "flows", "e2e")
TOP_LEVEL_TIERS = {
    "flows": "flows",
    "faults": "flows",
    "security": "flows",
    "observability": "flows",
    "stateful": "flows",
    "scale": "flows",
    "e2e": "e2e",
    "contract": "integration",
    "deploy": "integration",
    # the import contracts and the service skeleton: plain checks of the source, part of the fast lane
    "architecture": "unit",
}
#: what a fixture starts, and the tiers that may not start it (checked on the fixtures a test asks for, directly or
#: through other fixtures)
INFRASTRUCTURE = {
    "_devstack_postgres": ("PostgreSQL", {"unit"}),
    "_devstack_kafka": ("Kafka", {"unit", "component"}),
    "ds_emulator": ("the DS emulator (a JVM)", {"unit", "component"}),
    "contract_ds_emulator": ("the DS emulator (a JVM)", {"unit", "component"}),
}


def tier_of(path: Path, root: Path) -> str | None:
    """A test module's tier: its nearest enclosing tier folder, else its top-level suite's (``TOP_LEVEL_TIERS``)."""
    parts = path.relative_to(root).parts[:-1]
    for part in reversed(parts):
        if part in TIERS:
            return part
    if len(parts) >= 2 and parts[0] == "tests":
        return TOP_LEVEL_TIERS.get(parts[1])
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its tier (``-m unit``, ``-m "unit or component"`` …); a test outside a tier folder, a tier
    marker set by hand, or a unit/component test that starts what its tier may not is a collection error."""
    errors: list[str] = []
    for item in items:
        where = item.nodeid
        tier = tier_of(item.path, config.rootpath)
        if tier is None:
            errors.append(f"{where}: in no tier folder (tests/unit, tests/component, tests/integration, …)")
            continue
        by_hand = [m.name for m in item.iter_markers() if m.name in TIERS]
        if by_hand:
            errors.append(f"{where}: marked {by_hand} by hand; its folder sets the tier ({tier})")
        for fixture, (what, barred) in INFRASTRUCTURE.items():
            if tier in barred and fixture in getattr(item, "fixturenames", ()):
                errors.append(f"{where}: a {tier} test that starts {what}: move it to tests/integration")
        item.add_marker(tier)
    if errors:
        raise pytest.UsageError("test tiers:\n  " + "\n  ".join(errors))


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Under ``CI=true`` a skipped test fails, unless it is marked as needing a real DolphinScheduler: a skip there
    means a new machine silently lost the test (a missing browser, a missing tool), which is a defect of the setup."""
    report = yield
    allowed = SKIPPABLE_IN_CI.intersection(m.name for m in item.iter_markers())
    if report.skipped and _in_ci() and not allowed and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which allows skips only for {sorted(SKIPPABLE_IN_CI)}: {reason}"
    return report
