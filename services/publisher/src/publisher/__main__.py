"""``python -m publisher serve | migrate | check | republish``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from common.main import Command, run, service_main
from publisher.config import Settings
from publisher.main import create_app


def _check(settings: Settings, args: argparse.Namespace) -> int:
    from publisher.check import check

    return 0 if run(check(settings)) else 1


def _republish(settings: Settings, args: argparse.Namespace) -> int:
    from publisher.republish_cli import command

    return command(settings, args)


def _republish_arguments(parser: argparse.ArgumentParser) -> None:
    from publisher.republish_cli import arguments

    arguments(parser)


def main(argv: Sequence[str] | None = None) -> int:
    return service_main(
        argv,
        Settings,
        create_app,
        serve_help="run the service (HTTP API, Kafka consumer, publish workers)",
        commands=[
            Command("check", "check the connection to DolphinScheduler (gateway and REST)", _check),
            Command(
                "republish",
                "republish every deployed workflow whose converted definition would change (start, status, pause, "
                "resume, cancel)",
                _republish,
                _republish_arguments,
            ),
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
