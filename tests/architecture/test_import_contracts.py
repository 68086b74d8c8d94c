"""The architecture as failing tests: the import-linter contracts of the root ``pyproject.toml`` hold, and a service's
``domain`` loads no framework and no I/O library when imported (the runtime view, which also sees what a package's
``__init__`` drags in: grimp records ``from common.dolphin.models import X`` as an import of the module only)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: the same list as the "domain-is-plain-python" contract
FRAMEWORKS_AND_IO = (
    "fastapi",
    "starlette",
    "faststream",
    "aiokafka",
    "sqlalchemy",
    "asyncpg",
    "alembic",
    "httpx",
    "aiohttp",
    "py4j",
    "uvicorn",
    "prometheus_client",
    "opentelemetry",
)


def test_the_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def _domain_modules() -> list[str]:
    modules = []
    for domain in sorted(ROOT.glob("services/*/src/*/domain")):
        package = f"{domain.parent.name}.domain"
        for path in sorted(domain.rglob("*.py")):
            rel = path.relative_to(domain).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            modules.append(".".join([package, *parts]))
    return modules


def test_a_domain_loads_no_framework_and_no_io_library() -> None:
    modules = _domain_modules()
    assert len({m.split(".")[0] for m in modules}) == 6, modules  # every service has a domain
    probe = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(json.dumps(sorted({{n.split('.')[0] for n in sys.modules}} & set({FRAMEWORKS_AND_IO!r}))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
