"""The whole platform for browser tests: real PostgreSQL and Kafka (the session's devstack servers), a DS emulator of
its own, the services as OS processes (``devstack.stack``), and the built portal served by the gateway."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.stack import QUICK, DsEndpoint, Stack
from ds_emulator import EmulatorProcess

ROOT = Path(__file__).resolve().parents[2]
PORTAL = ROOT / "portal"
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = Path(os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium"))

#: what the portal build depends on: a newer file here than ``dist/index.html`` means the build is stale
PORTAL_SOURCES = ("src", "index.html", "package.json", "package-lock.json", "vite.config.ts", "tsconfig.app.json")


def _newest_mtime(paths: list[Path]) -> float:
    newest = 0.0
    for p in paths:
        if p.is_dir():
            for f in p.rglob("*"):
                if f.is_file():
                    newest = max(newest, f.stat().st_mtime)
        elif p.exists():
            newest = max(newest, p.stat().st_mtime)
    return newest


def portal_build_is_stale() -> bool:
    index = PORTAL / "dist" / "index.html"
    if not index.exists():
        return True
    return _newest_mtime([PORTAL / p for p in PORTAL_SOURCES]) > index.stat().st_mtime


def ensure_portal_built() -> None:
    """``npm ci`` (when node_modules is missing or older than the lock file) and ``npm run build`` when stale."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the portal cannot be built")
    lock = PORTAL / "package-lock.json"
    marker = PORTAL / "node_modules" / ".package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PORTAL, check=True, timeout=600)
    if portal_build_is_stale():
        subprocess.run([npm, "run", "build"], cwd=PORTAL, check=True, timeout=600)


@pytest.fixture(scope="session")
def platform_stack(postgres_admin_url: str, kafka_bootstrap: str) -> Iterator[Stack]:
    """Start the platform (without alerting) once per session."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; ./platform test installs it as root)")
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    ensure_portal_built()
    log_dir = ARTIFACTS / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "ds-emulator.log").unlink(missing_ok=True)
    with EmulatorProcess(log_path=log_dir / "ds-emulator.log") as emulator:
        # runs finish in about two seconds
        emulator.configure(submitDelaySeconds=0.2, dispatchDelaySeconds=0.2, taskDurationSeconds=1.0)
        ds = DsEndpoint.of(emulator, "e2e-platform")
        services = ("definition", "publisher", "history-sync", "lineage-resolver", "gateway")
        stack = Stack(postgres_admin_url, kafka_bootstrap, ds, log_dir, services, QUICK, tag="e2e", emulator=emulator)
        with stack.started():
            yield stack


def run_scenario(stack: Stack, scenario: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Run a browser scenario (``node <scenario>`` with ``E2E_CONFIG``); its last JSON line, failing the test with the
    failed step, the console errors and the services' log tails when it is not ``ok``."""
    node = shutil.which("node")
    assert node is not None
    env = {**os.environ, "E2E_CONFIG": json.dumps(config)}
    proc = subprocess.run(
        [node, str(scenario)], cwd=PORTAL, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        pytest.fail(f"the scenario printed no result (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    if not result.get("ok"):
        failed = next((s for s in result.get("steps", []) if not s.get("ok")), None)
        pytest.fail(
            f"browser scenario failed at {failed['name'] if failed else '?'}: {result.get('failed')}\n"
            f"{failed.get('error', '') if failed else ''}\n"
            f"console errors: {result.get('consoleErrors')}\n"
            f"screenshots: {ARTIFACTS}\n{stack.log_tails()}"
        )
    return result
