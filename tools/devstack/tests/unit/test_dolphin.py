"""The real DolphinScheduler standalone launcher's ports, version and configuration, without a JVM (the server itself:
integration/test_dolphin.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.dolphin import DolphinPorts, DolphinStandalone
from devstack.dolphin.artifacts import resolve_version


def test_ports_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSTACK_DS_REST_PORT", "23456")
    monkeypatch.setenv("DEVSTACK_DS_GATEWAY_PORT", "23457")
    ports = DolphinPorts.from_env()
    assert ports.rest == 23456
    assert ports.gateway == 23457
    assert ports.master == DolphinPorts().master


def test_generated_config_is_ours_and_minimal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSTACK_CACHE_DIR", str(tmp_path / "cache"))
    ds = DolphinStandalone(version="9.9.9", run_dir=tmp_path / "run", gateway_auth_token="tok-1")
    conf = ds._write_config()
    app = (conf / "application.yaml").read_text()
    assert "Written by devstack" in app
    assert f"port: {ds.ports.rest}" in app
    assert f"gateway-server-port: {ds.ports.gateway}" in app
    assert 'auth-token: "tok-1"' in app
    assert "time-zone: UTC" in app
    assert "registry:\n  type: jdbc" in app
    assert f"file:{ds.schema_file}" in app
    assert {p.name for p in conf.iterdir()} == {
        "application.yaml",
        "logback-spring.xml",
        "task-type-config.yaml",
        "dynamic-task-type-config.yaml",
    }
    cmd = ds.command()
    assert cmd[-1] == "org.apache.dolphinscheduler.StandaloneServer"
    assert "-Duser.timezone=UTC" in cmd
    assert "-Dsudo.enable=false" in cmd
    assert ds.rest_url == f"http://127.0.0.1:{ds.ports.rest}/dolphinscheduler"


def test_explicit_version_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSTACK_DS_VERSION", "3.3.2")
    assert resolve_version() == "3.3.2"
    assert resolve_version("3.4.1") == "3.4.1"
