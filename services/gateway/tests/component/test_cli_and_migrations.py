"""``python -m gateway`` commands on a fresh schema, and the migration matching the table code."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from common.db import ServiceDatabase, create_engine
from common.migrations import upgrade
from common.testing.fixtures import ProvisionFn
from gateway.__main__ import main
from gateway.config import MIGRATIONS
from gateway.db.tables import metadata


@pytest.fixture
async def fresh_db(service_database: ProvisionFn, monkeypatch: pytest.MonkeyPatch) -> ServiceDatabase:
    db = await service_database("gateway")
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db.url.get_secret_value())
    monkeypatch.setenv("GATEWAY_DB_SCHEMA", db.schema)
    return db


async def _run(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def _rows(db: ServiceDatabase, sql: str) -> list[dict[str, object]]:
    engine = create_engine(db.url, schema=db.schema, pool_size=1)
    try:
        async with engine.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(text(sql))]
    finally:
        await engine.dispose()


async def test_migrate_and_keys_commands(fresh_db: ServiceDatabase, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _run("migrate") == 0
    assert await _run("migrate") == 0  # idempotent
    capsys.readouterr()

    assert await _run("keys", "create", "--name", "alice", "--roles", "editor,approver") == 0
    out = capsys.readouterr()
    secret = out.out.strip()
    assert len(secret) >= 40
    assert "\n" not in secret  # stdout is only the key
    assert "shown only now" in out.err
    assert secret not in out.err
    [row] = await _rows(fresh_db, "SELECT name, roles, key_hash, key_prefix, created_by FROM api_key")
    assert row["name"] == "alice"
    assert row["roles"] == ["editor", "approver"]
    assert row["key_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert row["key_prefix"] == secret[:8]
    assert str(row["created_by"]).startswith("cli:")

    assert await _run("keys", "create", "--name", "root", "--roles", "admin") == 0
    capsys.readouterr()
    assert await _run("keys", "list", "--json") == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(k["name"], k["roles"]) for k in listed] == [("alice", ["editor", "approver"]), ("root", ["admin"])]
    assert secret not in json.dumps(listed)

    assert await _run("keys", "revoke", "1") == 0
    assert json.loads(capsys.readouterr().out) == {"revoked": 1, "name": "alice", "key_prefix": secret[:8]}
    assert await _run("keys", "list") == 0
    table = capsys.readouterr().out
    assert "alice" not in table
    assert "root" in table
    assert await _run("keys", "list", "--all") == 0
    assert "revoked" in capsys.readouterr().out

    # the last admin key needs --force
    assert await _run("keys", "revoke", "2") == 1
    assert "last active admin key" in capsys.readouterr().err
    assert await _run("keys", "revoke", "2", "--force") == 0
    assert await _run("keys", "revoke", "99") == 1
    assert "does not exist" in capsys.readouterr().err


async def test_keys_create_rejects_unknown_roles(fresh_db: ServiceDatabase, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _run("migrate") == 0
    assert await _run("keys", "create", "--name", "x", "--roles", "viewer,superuser") == 1
    err = capsys.readouterr().err
    assert "unknown role 'superuser'" in err
    assert await _rows(fresh_db, "SELECT * FROM api_key") == []


async def test_migration_matches_the_tables(fresh_db: ServiceDatabase) -> None:
    assert await _run("migrate") == 0
    engine = create_engine(fresh_db.url, schema=fresh_db.schema, pool_size=1)

    def diff(conn: Connection) -> list[object]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return [d for d in compare_metadata(ctx, metadata) if not (isinstance(d, tuple) and d[0] == "remove_table")]

    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


def test_bad_configuration_fails_at_start(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GATEWAY_BOOTSTRAP_ADMIN_TOKEN", "tiny-secret-xyz")
    assert main(["keys", "list"]) == 2
    err = capsys.readouterr().err
    assert "bootstrap_admin_token must be at least 16 characters" in err
    assert "tiny-secret-xyz" not in err  # the rejected secret is not echoed


async def test_keys_expiry_and_scopes_from_the_cli(
    fresh_db: ServiceDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _run("migrate") == 0
    capsys.readouterr()
    before = datetime.now(UTC)
    assert (
        await _run("keys", "create", "--name", "ci", "--roles", "publisher", "--scopes", "publish,workflows:read") == 0
    )
    err = capsys.readouterr().err
    assert "scopes publish,workflows:read" in err
    assert await _run("keys", "create", "--name", "spark", "--roles", "lineage", "--expires", "12h") == 0
    assert await _run("keys", "create", "--name", "ops", "--roles", "admin", "--expires", "never") == 0
    assert "expires never" in capsys.readouterr().err
    rows = await _rows(fresh_db, "SELECT name, scopes, expires_at FROM api_key ORDER BY id")
    assert [(r["name"], r["scopes"]) for r in rows] == [
        ("ci", ["publish", "workflows:read"]),
        ("spark", None),
        ("ops", None),
    ]
    ci, spark, ops = (r["expires_at"] for r in rows)
    assert isinstance(ci, datetime)
    assert isinstance(spark, datetime)
    # the default lifetime (90 days), and a duration
    assert before + timedelta(days=90) <= ci <= datetime.now(UTC) + timedelta(days=90)
    assert before + timedelta(hours=12) <= spark <= datetime.now(UTC) + timedelta(hours=12)
    assert ops is None

    assert await _run("keys", "list") == 0
    table = capsys.readouterr().out.splitlines()
    assert "publish,workflows:read" in table[0]
    assert "cli:" in table[0]
    assert "expires " + ci.isoformat(timespec="seconds") in table[0]
    assert "never used" in table[0]
    assert "(all)" in table[1]
    assert "never expires" in table[2]
    assert await _run("keys", "list", "--json") == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(k["scopes"], k["status"]) for k in listed] == [
        (["publish", "workflows:read"], "active"),
        (None, "active"),
        (None, "active"),
    ]

    for argv, message in [
        (("--roles", "viewer", "--expires", "yesterday"), "is not 'never', a duration"),
        (("--roles", "viewer", "--expires", "2020-01-01"), "is not in the future"),
        (("--roles", "viewer", "--scopes", "deploy"), "unknown scope 'deploy'"),
        (("--roles", "viewer", "--scopes", "publish"), "cannot use the scopes 'publish'"),
    ]:
        assert await _run("keys", "create", "--name", "bad", *argv) == 1
        assert message in capsys.readouterr().err
    assert len(await _rows(fresh_db, "SELECT id FROM api_key")) == 3


async def test_keys_made_before_expiry_and_scopes_keep_working(fresh_db: ServiceDatabase) -> None:
    """Migration 0003 leaves existing keys unlimited: no expiry, no scopes."""
    await upgrade(MIGRATIONS, fresh_db.url, fresh_db.schema, revision="0002")
    engine = create_engine(fresh_db.url, schema=fresh_db.schema, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO api_key (name, key_prefix, key_hash, roles, created_by) "
                    "VALUES ('old', 'abcdefgh', :digest, ARRAY['publisher'], 'cli')"
                ),
                {"digest": hashlib.sha256(b"old").hexdigest()},
            )
    finally:
        await engine.dispose()
    await upgrade(MIGRATIONS, fresh_db.url, fresh_db.schema)
    [row] = await _rows(fresh_db, "SELECT name, roles, scopes, expires_at FROM api_key")
    assert row == {"name": "old", "roles": ["publisher"], "scopes": None, "expires_at": None}
