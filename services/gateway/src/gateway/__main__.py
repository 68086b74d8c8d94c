"""``python -m gateway serve | migrate | keys create|list|revoke``.

``keys create --name alice --roles editor,approver`` prints the new key once (stdout: only the key, so it can be
captured); the database keeps only its SHA-256.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import create_engine, session_factory
from common.errors import DomainError
from common.main import Command, service_main
from gateway.config import Settings
from gateway.main import create_app

T = TypeVar("T")


def _keys_arguments(parser: argparse.ArgumentParser) -> None:
    keys = parser.add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create a key and print it (shown only this once)")
    create.add_argument("--name", required=True, help="the user the key acts as")
    create.add_argument(
        "--roles",
        required=True,
        help="comma-separated: viewer,editor,approver,publisher,admin,lineage (lineage: may only send lineage)",
    )
    lst = keys.add_parser("list", help="list keys (prefix, user, roles, dates; never the secret)")
    lst.add_argument("--all", action="store_true", help="include revoked keys")
    lst.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    revoke = keys.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id", type=int)
    revoke.add_argument("--force", action="store_true", help="allow revoking the last active admin key")


async def _with_sessions(settings: Settings, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    engine = create_engine(settings.database_url, schema=settings.db_schema, pool_size=1)
    try:
        return await work(session_factory(engine))
    finally:
        await engine.dispose()


def _keys(settings: Settings, args: argparse.Namespace) -> int:
    from gateway import auth

    if args.keys_command == "create":
        created = asyncio.run(
            _with_sessions(
                settings,
                lambda s: auth.create_api_key(
                    s, name=args.name, roles=args.roles.split(","), created_by=f"cli:{getpass.getuser()}"
                ),
            )
        )
        print(
            f"created key {created.id} for {created.name} (roles {','.join(created.roles)}, prefix "
            f"{created.key_prefix}); it is shown only now:",
            file=sys.stderr,
        )
        print(created.key)
        return 0
    if args.keys_command == "list":
        views: list[auth.ApiKeyView] = []
        page = 1
        while True:

            def fetch(s: async_sessionmaker[AsyncSession], page: int = page) -> Awaitable[auth.ApiKeyPage]:
                return auth.list_api_keys(s, include_revoked=args.all, page=page, page_size=200)

            batch = asyncio.run(_with_sessions(settings, fetch))
            views.extend(batch.items)
            if len(views) >= batch.total or not batch.items:
                break
            page += 1
        for v in views:
            if args.json:
                print(v.model_dump_json())
            else:
                state = "revoked " + v.revoked_at.isoformat(timespec="seconds") if v.revoked_at else "active"
                used = v.last_used_at.isoformat(timespec="seconds") if v.last_used_at else "never used"
                print(f"{v.id:>5}  {v.key_prefix:<8}  {v.name:<24} {','.join(v.roles):<32} {state:<30} {used}")
        return 0
    revoked = asyncio.run(
        _with_sessions(settings, lambda s: auth.revoke_api_key(s, args.key_id, allow_last_admin=args.force))
    )
    print(json.dumps({"revoked": revoked.id, "name": revoked.name, "key_prefix": revoked.key_prefix}))
    return 0


def _keys_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        return _keys(settings, args)
    except DomainError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1


def _serve_options(settings: Settings) -> dict[str, Any]:
    # X-Forwarded-For names the client only from the configured proxies (uvicorn trusts 127.0.0.1 by default,
    # which would let any local client pick its address and slip past the failed-sign-in limit)
    return {
        "proxy_headers": bool(settings.forwarded_allow_ips),
        "forwarded_allow_ips": settings.forwarded_allow_ips or None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    return service_main(
        argv,
        Settings,
        create_app,
        serve_help="run the public API, its docs and the portal (uvicorn)",
        commands=[Command("keys", "manage API keys", _keys_command, _keys_arguments)],
        serve_options=_serve_options,
    )


if __name__ == "__main__":
    sys.exit(main())
