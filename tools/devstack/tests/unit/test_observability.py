"""The observability stack of ``platform up``: what the services are told, what Prometheus is configured with (checked
by the real ``promtool``) and the ``--no-observability`` switch. The daemons themselves: integration/
test_observability.py; the stack at work (a publish's trace, lag, alerts): tests/observability."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from common.provision import SERVICES
from devstack import platform
from devstack.observability import Zipkin, prometheus_config, shipped_rules
from devstack.stack import DsEndpoint

PROMTOOL = shutil.which("promtool")


def ds(kind: str = "emulator") -> DsEndpoint:
    return DsEndpoint(
        kind=kind,
        rest_url="http://127.0.0.1:12345/dolphinscheduler",
        access_token="t",
        gateway_host="127.0.0.1",
        gateway_port=25333,
        gateway_auth_token="g",
        project_name="p",
    )


def test_every_service_exports_to_zipkin_and_the_gateway_links_to_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DEVSTACK_STATE_DIR", str(tmp_path))  # the secrets and identity keys are kept there
    obs = platform.Observability(Zipkin(19411, tmp_path / "zipkin"), 19090)
    env = platform.platform_stack("postgresql://x", "127.0.0.1:1", ds(), obs).env
    without = platform.platform_stack("postgresql://x", "127.0.0.1:1", ds(), None).env
    for spec in SERVICES:
        assert (
            env[spec.name][f"{spec.env_prefix}OTEL_EXPORTER_ZIPKIN_ENDPOINT"] == "http://127.0.0.1:19411/api/v2/spans"
        )
        assert f"{spec.env_prefix}OTEL_EXPORTER_ZIPKIN_ENDPOINT" not in without[spec.name]
    assert env["gateway"]["GATEWAY_TRACE_URL_TEMPLATE"] == "http://127.0.0.1:19411/zipkin/traces/{trace_id}"


def test_the_flag_leaves_the_observability_stack_out(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(
        platform, "up", lambda ds_kind, observability=True, sso=True: seen.append((observability, sso)) or 0
    )
    assert platform.main(["up", "--ds", "emulator"]) == 0
    assert platform.main(["up", "--ds", "emulator", "--no-observability"]) == 0
    assert platform.main(["up", "--ds", "emulator", "--no-sso"]) == 0
    assert seen == [(True, True), (False, True), (True, False)]


def test_prometheus_scrapes_every_service_and_a_real_ds() -> None:
    targets = platform.scrape_targets(ds("emulator"))
    assert {t.labels["service"]: t.address for t in targets} == {
        s.name: f"127.0.0.1:{platform.port(s.name)}" for s in SERVICES
    }
    assert {t.job for t in targets} == {"platform"}  # the emulator has no metrics endpoint
    real = platform.scrape_targets(ds("real"))
    [dolphin] = [t for t in real if t.job == "dolphinscheduler"]
    assert (dolphin.address, dolphin.metrics_path) == ("127.0.0.1:12345", "/dolphinscheduler/actuator/prometheus")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is installed by ./platform as root")
def test_promtool_accepts_the_generated_configuration(tmp_path: Path) -> None:
    config = prometheus_config(platform.scrape_targets(ds("real")), [shipped_rules()], self_address="127.0.0.1:9090")
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert set(jobs) == {"platform", "dolphinscheduler", "prometheus"}
    assert len(jobs["platform"]["static_configs"]) == len(SERVICES)
    path = tmp_path / "prometheus.yml"
    path.write_text(json.dumps(config))  # as Prometheus.write_config writes it: JSON is YAML
    assert PROMTOOL is not None
    out = subprocess.run([PROMTOOL, "check", "config", str(path)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
