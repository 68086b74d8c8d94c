"""The observability daemons of ``platform up`` (Zipkin, Prometheus): started, found running and stopped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from devstack.observability import Prometheus, ScrapeTarget, Zipkin


def test_both_daemons_start_are_found_running_and_stop(tmp_path: Path, free_port: Callable[[], int]) -> None:
    zipkin = Zipkin(free_port(), tmp_path / "zipkin")
    prometheus = Prometheus(
        [ScrapeTarget("platform", f"127.0.0.1:{zipkin.port}", {"service": "zipkin"}, metrics_path="/prometheus")],
        port=free_port(),
        directory=tmp_path / "prometheus",
        scrape_interval_s=1.0,
    )
    try:
        zipkin.start()
        prometheus.start()
        pid = zipkin.pid()
        zipkin.start()  # a second start keeps the running one
        assert zipkin.pid() == pid
        assert httpx.get(zipkin.url + "/health", timeout=5).json()["status"] == "UP"
        groups = httpx.get(prometheus.url + "/api/v1/rules", timeout=5).json()["data"]["groups"]
        assert {g["name"] for g in groups} == {"platform-sli", "platform-alerts"}
    finally:
        assert prometheus.stop()
        assert zipkin.stop()
    assert not zipkin.is_running()
    assert not prometheus.is_running()
    assert not zipkin.stop()
