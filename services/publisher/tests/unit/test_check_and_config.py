"""The ``check`` report and the settings' token handling, with the in-memory DS (no I/O)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from common.dolphin import DolphinGatewayUnavailable
from common.dolphin.gateway import DEFAULT_GATEWAY_AUTH_TOKEN
from publisher.check import run_check
from publisher.config import Settings
from publisher_testing.fakes import FakeDolphin

TOKEN = "rest-token-0123456789"
GW_TOKEN = "gateway-token-9876543210"


def _settings(**kw: object) -> Settings:
    values: dict[str, object] = {
        "ds_token": SecretStr(TOKEN),
        "ds_gateway_auth_token": SecretStr(GW_TOKEN),
        "ds_project_name": "etl",
    }
    values.update(kw)
    return Settings(**values)  # type: ignore[arg-type]


async def test_check_passes_every_step() -> None:
    ds = FakeDolphin()
    await ds.gateway.create_or_grant_project("admin", "etl")
    out = io.StringIO()
    assert await run_check(_settings(), ds.gateway, ds.rest, out) is True
    report = out.getvalue()
    assert report.count("PASS") == 5
    assert "all checks passed" in report
    assert ds.calls["list_workflow_instances"] == 1
    assert TOKEN not in report
    assert GW_TOKEN not in report


async def test_check_reports_each_failure() -> None:
    ds = FakeDolphin()
    ds.fail("ping", DolphinGatewayUnavailable("DolphinScheduler gateway 127.0.0.1:25333 unavailable during ping"))
    out = io.StringIO()
    assert await run_check(_settings(), ds.gateway, ds.rest, out) is False
    lines = out.getvalue().splitlines()
    assert any(line.startswith("FAIL  gateway ping") for line in lines)
    assert any(line.startswith("FAIL  project") and "does not exist" in line for line in lines)
    assert any(line.startswith("SKIP  REST workflow-instances") for line in lines)
    assert lines[-1] == "RESULT: some checks FAILED"


def test_tokens_come_from_env_or_file_and_only_references_are_exposed(tmp_path: Path) -> None:
    settings = _settings()
    assert settings.rest_token().get_secret_value() == TOKEN
    assert settings.rest_token_ref() == "env:PUBLISHER_DS_TOKEN"
    assert settings.gateway_token_ref() == "env:PUBLISHER_DS_GATEWAY_AUTH_TOKEN"
    assert TOKEN not in repr(settings)
    secret = tmp_path / "ds_token"
    secret.write_text("from-file-token\n")
    from_file = _settings(ds_token=None, ds_token_file=secret)
    assert from_file.rest_token().get_secret_value() == "from-file-token"
    assert from_file.rest_token_ref() == f"file:{secret}"
    gw_file = tmp_path / "gw_token"
    gw_file.write_text("gateway-token-from-file\n")
    assert _settings(ds_gateway_auth_token=None, ds_gateway_auth_token_file=gw_file).gateway_token_ref() == (
        f"file:{gw_file}"
    )


def test_missing_token_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="PUBLISHER_DS_TOKEN"):
        _settings(ds_token=None)
    # no fallback to DolphinScheduler's public default py4j token: none, or that one, and the publisher does not start
    with pytest.raises(
        ValidationError, match="PUBLISHER_DS_GATEWAY_AUTH_TOKEN or PUBLISHER_DS_GATEWAY_AUTH_TOKEN_FILE"
    ):
        _settings(ds_gateway_auth_token=None)
    with pytest.raises(ValidationError, match="public default token"):
        _settings(ds_gateway_auth_token=DEFAULT_GATEWAY_AUTH_TOKEN)
    with pytest.raises(ValidationError, match="does not exist"):
        _settings(ds_token=None, ds_token_file=tmp_path / "missing")


def test_ui_link_base() -> None:
    assert _settings(ds_rest_url="http://ds:12345/dolphinscheduler/").ui_url == "http://ds:12345/dolphinscheduler/ui"
    assert _settings(ds_ui_url="https://ds.example/ui/").ui_url == "https://ds.example/ui"


def test_ds_links_follow_the_configured_ds_version() -> None:
    links = _settings(ds_ui_url="https://ds.example/ui/", ds_version="3.3.1").ds_links
    assert links.version == "3.3"
    assert links.workflow_definition(1, 2) == "https://ds.example/ui/projects/1/workflow/definitions/2"
    with pytest.raises(ValidationError, match="ds_version"):
        _settings(ds_version="3.2.2")
