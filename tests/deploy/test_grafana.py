"""deploy/grafana: provisioning files and the dashboard JSON; every panel queries a provisioned data source with
PromQL over metrics that exist (defined in the code, by FastStream, or by a deployed exporter)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

COVERED = {
    "ds_calls_total",
    "ds_call_duration_seconds_bucket",
    "publish_records_total",
    "history_sync_oldest_sync_age_seconds",
    "history_sync_cycle_duration_seconds_bucket",
    "kafka_consumer_lag",
    "outbox_backlog",
    "outbox_oldest_age_seconds",
    "dlq_messages_total",
    "http_requests_total",
    "http_request_duration_seconds_bucket",
}


@pytest.fixture(scope="module")
def dashboard(repo_root: Path) -> dict[str, Any]:
    doc = json.loads((repo_root / "deploy/grafana/dashboards/platform.json").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def datasource_uids(repo_root: Path) -> dict[str, str]:
    doc = yaml.safe_load((repo_root / "deploy/grafana/provisioning/datasources/datasources.yml").read_text())
    return {d["uid"]: d["type"] for d in doc["datasources"]}


def test_the_dashboard_is_provisioned_from_its_folder(repo_root: Path, compose: dict[str, Any]) -> None:
    doc = yaml.safe_load((repo_root / "deploy/grafana/provisioning/dashboards/dashboards.yml").read_text())
    path = doc["providers"][0]["options"]["path"]
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"] if v.startswith("./"))
    assert mounts["./deploy/grafana/dashboards"] == path


def test_every_panel_queries_existing_metrics(
    dashboard: dict[str, Any], datasource_uids: dict[str, str], known_series: dict[str, str], metric_names_of: Any
) -> None:
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(panels) >= 15
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    used: set[str] = set()
    for panel in panels:
        title = panel["title"]
        ds = panel.get("datasource") or {}
        assert datasource_uids.get(str(ds.get("uid"))) == ds.get("type") == "prometheus", title
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), title
        targets = panel.get("targets") or []
        assert targets, f"{title} has no query"
        for t in targets:
            assert t["datasource"]["uid"] == ds["uid"], title
            names = metric_names_of(t["expr"])
            assert names, f"{title}: no metric in {t['expr']}"
            unknown = names - set(known_series)
            assert not unknown, f"{title}: {sorted(unknown)} is defined nowhere"
            used |= names
    missing = COVERED - used
    assert not missing, f"the dashboard does not show {sorted(missing)}"


def test_known_series_come_from_the_code(known_series: dict[str, str]) -> None:
    # a guard against the finder silently finding nothing
    assert known_series["ds_calls_total"].endswith("dolphin/metrics.py")
    assert known_series["publish_records_total"].startswith("services/publisher/")
    assert known_series["history_sync_cycle_duration_seconds_bucket"].startswith("services/history-sync/")
    assert known_series["faststream_received_processed_messages_duration_seconds_bucket"] == "faststream"
    # HTTP RED comes from every service itself (common.red), not only from span metrics
    assert known_series["http_requests_total"].endswith("common/red.py")
