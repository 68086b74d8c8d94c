"""``common.main.service_main``: one command line for every service (settings read once, bad configuration a
message without the rejected value, the service's own commands plugged in)."""

from __future__ import annotations

import argparse

import pytest
from fastapi import FastAPI
from pydantic import SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from common.main import Command, service_main
from common.migrations import migrations_of
from common.settings import ServiceSettings


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore", env_file=None)

    service_name: str = "demo"
    token: SecretStr = SecretStr("a-long-enough-token")

    @field_validator("token")
    @classmethod
    def _long(cls, v: SecretStr) -> SecretStr:
        if len(v.get_secret_value()) < 16:
            raise ValueError("token must be at least 16 characters")
        return v


def _no_app(settings: DemoSettings) -> FastAPI:
    raise AssertionError("serve is not run by these tests")


def _main(argv: list[str], commands: list[Command[DemoSettings]]) -> int:
    return service_main(argv, DemoSettings, _no_app, serve_help="serve", commands=commands)


def test_a_service_command_gets_the_settings_and_its_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[tuple[str, int]] = []

    def echo(settings: DemoSettings, args: argparse.Namespace) -> int:
        seen.append((settings.service_name, args.times))
        return 3

    def arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--times", type=int, default=1)

    assert _main(["echo", "--times", "2"], [Command("echo", "repeat", echo, arguments)]) == 3
    assert seen == [("demo", 2)]


def test_bad_configuration_is_a_message_without_the_rejected_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEMO_TOKEN", "tiny-secret-xyz")
    assert _main(["echo"], [Command("echo", "never runs", lambda s, a: 0)]) == 2
    err = capsys.readouterr().err
    assert "token: Value error, token must be at least 16 characters" in err
    assert "tiny-secret-xyz" not in err


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        _main(["nope"], [])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_a_service_finds_its_migrations_next_to_its_source() -> None:
    path = migrations_of("definition")
    assert path.name == "migrations"
    assert (path / "env.py").is_file()
    assert path.parent.name == "definition"
