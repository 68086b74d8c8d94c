"""``python -m gateway serve | migrate | keys create|list|revoke``.

``keys create --name alice --roles editor,approver [--scopes publish,workflows:read] [--expires 30d|2027-03-01|never]``
prints the new key once (stdout: only the key, so it can be captured); the database keeps only its SHA-256. Without
``--expires`` the key lives ``GATEWAY_KEY_LIFETIME_DAYS`` (90 days).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import create_engine, session_factory
from common.errors import DomainError, ValidationFailed
from common.main import Command, service_main
from gateway.config import Settings
from gateway.domain.keys import expiry_of
from gateway.main import create_app

if TYPE_CHECKING:
    from gateway.auth import ApiKeyView

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
    create.add_argument(
        "--scopes",
        help="limit the key to these comma-separated scopes: workflows:read, workflows:write, publish, lineage:write, "
        "admin (default: no limit but its roles)",
    )
    create.add_argument(
        "--expires",
        help="a duration (12h, 30d, 8w), a date (2027-03-01, its start in UTC), an ISO date-time with offset, or "
        "'never' (default: GATEWAY_KEY_LIFETIME_DAYS, 90 days)",
    )
    lst = keys.add_parser(
        "list", help="list keys (prefix, user, roles, scopes, creator, expiry, state, last use; never the secret)"
    )
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
        now = datetime.now(UTC)
        try:
            expires_at = (
                now + timedelta(days=settings.key_lifetime_days)
                if args.expires is None
                else expiry_of(args.expires, now)
            )
        except ValueError as exc:
            raise ValidationFailed(str(exc)) from None
        created = asyncio.run(
            _with_sessions(
                settings,
                lambda s: auth.create_api_key(
                    s,
                    name=args.name,
                    roles=args.roles.split(","),
                    created_by=f"cli:{getpass.getuser()}",
                    expires_at=expires_at,
                    scopes=None if args.scopes is None else args.scopes.split(","),
                ),
            )
        )
        scopes = f", scopes {','.join(created.scopes)}" if created.scopes is not None else ""
        until = created.expires_at.isoformat(timespec="seconds") if created.expires_at else "never"
        print(
            f"created key {created.id} for {created.name} (roles {','.join(created.roles)}{scopes}, expires {until}, "
            f"prefix {created.key_prefix}); it is shown only now:",
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
                print(_key_line(v))
        return 0
    revoked = asyncio.run(
        _with_sessions(settings, lambda s: auth.revoke_api_key(s, args.key_id, allow_last_admin=args.force))
    )
    print(json.dumps({"revoked": revoked.id, "name": revoked.name, "key_prefix": revoked.key_prefix}))
    return 0


def _key_line(v: ApiKeyView) -> str:
    """One key of ``keys list``: id, prefix, user, roles, scopes, created by, expiry, state, last use."""
    state = "revoked " + v.revoked_at.isoformat(timespec="seconds") if v.revoked_at else v.status
    until = "expires " + v.expires_at.isoformat(timespec="seconds") if v.expires_at else "never expires"
    used = "used " + v.last_used_at.isoformat(timespec="seconds") if v.last_used_at else "never used"
    scopes = ",".join(v.scopes) if v.scopes is not None else "(all)"
    return (
        f"{v.id:>5}  {v.key_prefix:<8}  {v.name:<24} {','.join(v.roles):<24} {scopes:<24} {v.created_by:<20} "
        f"{until:<33} {state:<27} {used}"
    )


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
