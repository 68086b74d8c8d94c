"""The command line of every service: ``python -m <svc> serve | migrate | <the service's own commands>``.

``service_main`` reads the settings once (bad configuration: a message without the rejected values, exit 2), masks
their secrets in every log, and then ``serve`` runs the app under uvicorn (keep-alive ``common.http.KEEP_ALIVE_S``,
our logging, uvloop where installed), ``migrate`` upgrades the service's schema, and a ``Command`` runs the
service's own work (``history_sync sync-once``, ``gateway keys …``). Without a command the service serves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import FastAPI
from pydantic import SecretStr, ValidationError

from common.migrations import migrations_of, upgrade_sync
from common.settings import ServiceSettings
from common.telemetry import register_secrets

S = TypeVar("S", bound=ServiceSettings)
T = TypeVar("T")


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    return None


@dataclass(frozen=True)
class Command(Generic[S]):
    """A service's own command: ``run(settings, args)`` returns the exit code; ``arguments`` adds its options."""

    name: str
    help: str
    run: Callable[[S, argparse.Namespace], int]
    arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where installed (``uvicorn[standard]``): ``serve`` runs on it through uvicorn, so the commands do too
    (history-sync's ``sync-once`` costs a fifth less CPU on it than on the default loop)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is not built for every platform
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine on the loop ``serve`` uses."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def _configuration_problem(exc: ValidationError) -> str:
    # without the input: a rejected value may be a secret
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors())


def _secrets_of(settings: ServiceSettings) -> list[SecretStr]:
    values = (getattr(settings, name) for name in type(settings).model_fields)
    return [v for v in values if isinstance(v, SecretStr)]


def service_main(
    argv: Sequence[str] | None,
    settings: type[S],
    create_app: Callable[[S], FastAPI],
    *,
    serve_help: str,
    commands: Sequence[Command[S]] = (),
    serve_options: Callable[[S], Mapping[str, Any]] | None = None,
    description: str | None = None,
) -> int:
    """The ``main`` of a service's ``__main__.py`` (and console script). The service's package is that of its
    ``settings`` class, its migrations are ``common.migrations.migrations_of`` it; ``serve_options`` adds uvicorn
    options."""
    module = settings.__module__.split(".")[0]
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help=serve_help)
    serve.add_argument("--host", help="listen address (default: <PREFIX>HTTP_HOST)")
    serve.add_argument("--port", type=int, help="listen port (default: <PREFIX>HTTP_PORT)")
    sub.add_parser("migrate", help="apply the database migrations to the service's schema")
    own = {c.name: c for c in commands}
    for c in commands:
        c.arguments(sub.add_parser(c.name, help=c.help))
    args = parser.parse_args(argv)
    try:
        config = settings()
    except ValidationError as exc:
        print(f"bad configuration: {_configuration_problem(exc)}", file=sys.stderr)
        return 2
    register_secrets(_secrets_of(config))
    if args.command == "migrate":
        upgrade_sync(config.migrations_path or migrations_of(module), config.database_url, config.db_schema)
        print(json.dumps({"migrated": config.db_schema}))
        return 0
    if args.command in own:
        return own[args.command].run(config, args)
    import uvicorn

    from common.http import KEEP_ALIVE_S

    port = getattr(args, "port", None)
    uvicorn.run(
        create_app(config),
        host=getattr(args, "host", None) or config.http_host,
        port=config.http_port if port is None else port,
        log_config=None,
        timeout_keep_alive=KEEP_ALIVE_S,
        **(serve_options(config) if serve_options is not None else {}),
    )
    return 0
