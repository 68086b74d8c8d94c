"""deploy/prometheus: promtool checks the rules and the scrape config, runs the alert unit tests
(rules.test.yml), and every metric the rules use is one the code or the deployment exposes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed and this test installs nothing: ./platform test installs it as root "
    "(apt-get install --no-install-recommends prometheus); without root it cannot be installed here",
)
REQUIRED_ALERTS = {
    "PublishFailed",
    "WorkflowExecutionFailed",
    "WorkflowExecutionFailureStorm",
    "DeadLetterQueueGrowing",
    "HistorySyncStale",
    "ConsumerLagHigh",
    "OutboxBacklogOld",
    "DsCallSuccessRateLow",
}


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False)


@pytest.fixture(scope="module")
def rules(repo_root: Path) -> dict[str, Any]:
    doc = yaml.safe_load((repo_root / "deploy/prometheus/rules.yml").read_text())
    assert isinstance(doc, dict)
    return doc


@needs_promtool
def test_promtool_accepts_the_rules(repo_root: Path) -> None:
    out = _run("check", "rules", str(repo_root / "deploy/prometheus/rules.yml"))
    assert out.returncode == 0, out.stdout + out.stderr


@needs_promtool
def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n- name: x\n  rules:\n  - alert: X\n    expr: sum(rate(ds_calls_total[5m])\n")
    assert _run("check", "rules", str(bad)).returncode != 0


@needs_promtool
def test_alert_unit_tests_pass(repo_root: Path) -> None:
    out = _run("test", "rules", "rules.test.yml", cwd=Path(__file__).parent)
    assert out.returncode == 0, out.stdout + out.stderr


@needs_promtool
def test_promtool_accepts_the_scrape_config(repo_root: Path, tmp_path: Path) -> None:
    config = yaml.safe_load((repo_root / "deploy/prometheus/prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules.yml"]  # the compose mount
    shutil.copy(repo_root / "deploy/prometheus/rules.yml", tmp_path / "rules.yml")
    config["rule_files"] = [str(tmp_path / "rules.yml")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    out = _run("check", "config", str(tmp_path / "prometheus.yml"))
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_required_alerts_exist_and_are_labelled(rules: dict[str, Any]) -> None:
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert set(alerts) >= REQUIRED_ALERTS
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, name
        assert rule["annotations"]["summary"], name
    for name in ("PublishFailed", "WorkflowExecutionFailed", "DeadLetterQueueGrowing", "HistorySyncStale"):
        assert alerts[name]["labels"].get("im") == "true", f"{name} must reach the IM channel"


def test_rules_use_only_metrics_that_exist(
    rules: dict[str, Any], known_series: dict[str, str], metric_names_of: Any
) -> None:
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    for group in rules["groups"]:
        for rule in group["rules"]:
            unknown = metric_names_of(rule["expr"]) - set(known_series) - recorded
            assert not unknown, f"{rule.get('alert') or rule.get('record')}: {sorted(unknown)} exist nowhere"
    assert {"platform:ds_call_success_ratio:rate5m", "platform:ds_call_duration_seconds:p99_5m"} <= recorded
    assert any(r.startswith("platform:publish_") for r in recorded)


def test_the_metric_finder_sees_through_promql(metric_names_of: Any) -> None:
    expr = (
        'histogram_quantile(0.99, sum by (api, le) (rate(ds_call_duration_seconds_bucket{api="rest"}[5m]))) '
        "/ on (api) group_left max without (x) (foo_total) > bool 1 and up == 0"
    )
    assert metric_names_of(expr) == {"ds_call_duration_seconds_bucket", "foo_total", "up"}


def test_every_alert_links_its_runbook(rules: dict[str, Any], repo_root: Path) -> None:
    """Each alert's ``runbook_url`` names a section of docs/operations.md (the GitHub anchor of its heading), and
    each section says what to check with PromQL and where to look in the traces."""
    docs = (repo_root / "docs/operations.md").read_text(encoding="utf-8")
    sections = {
        heading.strip().lower(): body
        for heading, body in (part.split("\n", 1) for part in docs.split("\n### ")[1:] if "\n" in part)
    }
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert alerts
    for rule in alerts:
        name = rule["alert"]
        url = rule["annotations"].get("runbook_url")
        assert url == f"docs/operations.md#{name.lower()}", f"{name}: runbook_url {url!r}"
        body = sections.get(name.lower())
        assert body is not None, f"{name}: no '### {name}' runbook in docs/operations.md"
        runbook = body.split("\n## ", 1)[0]
        assert "1. " in runbook, f"{name}: the runbook lists no first check"
        assert "3. " in runbook, f"{name}: the runbook lists no three checks"
        assert "`" in runbook, f"{name}: the runbook quotes no query"
