"""``python -m alerting serve | migrate | inspect``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from alerting import service
from alerting.config import Settings
from alerting.main import create_app, offline_deps
from common.main import Command, run, service_main


async def _inspection(settings: Settings) -> str:
    async with offline_deps(settings) as deps:
        report = await service.run_inspection(deps, "cli")
    assert report is not None
    return report.model_dump_json(indent=2)


def _inspect(settings: Settings, args: argparse.Namespace) -> int:
    print(run(_inspection(settings)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return service_main(
        argv,
        Settings,
        create_app,
        serve_help="run the service (HTTP API, consumers, delivery, daily inspection)",
        commands=[
            Command("inspect", "run the consistency inspection once, open its tickets, print the report", _inspect)
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
