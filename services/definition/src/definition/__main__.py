"""Commands: ``python -m definition migrate | serve`` (also the ``definition`` script)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from common.migrations import upgrade_sync
from definition.config import Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="definition", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="upgrade the definition schema to the latest migration")
    sub.add_parser("serve", help="run the HTTP API and the Kafka consumers (uvicorn)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    if args.command == "migrate":
        upgrade_sync(settings.migrations_path, settings.database_url, settings.db_schema)
        print(json.dumps({"migrated": settings.db_schema}))
        return 0
    import uvicorn

    uvicorn.run(
        "definition.main:create_app", factory=True, host=settings.http_host, port=settings.http_port, log_config=None
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
