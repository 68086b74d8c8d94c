"""Run a service's Alembic migrations against its own schema.

Every service keeps its history in ``services/<svc>/migrations`` with an ``env.py`` that calls ``run_env``. The
version table lives in the service's schema, so histories never collide. ``upgrade`` is what the ``migrate`` command,
the app's optional auto-migration and the test fixtures all call.
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from pydantic import SecretStr
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def alembic_config(script_location: Path, url: SecretStr | str, schema: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["url"] = url.get_secret_value() if isinstance(url, SecretStr) else url
    cfg.attributes["schema"] = schema
    return cfg


def upgrade_sync(script_location: Path, url: SecretStr | str, schema: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(script_location, url, schema), revision)


async def upgrade(script_location: Path, url: SecretStr | str, schema: str, revision: str = "head") -> None:
    """Alembic drives its own event loop inside ``env.py``; run it in a worker thread."""
    await asyncio.to_thread(upgrade_sync, script_location, url, schema, revision)


def run_env(target_metadata: MetaData) -> None:
    """Body of every service's ``migrations/env.py`` (online mode only: we always migrate a live database)."""
    cfg = context.config
    url: str = cfg.attributes["url"]
    schema: str = cfg.attributes["schema"]

    def _run(connection: Connection) -> None:
        connection.execute(text(f'SET search_path TO "{schema}"'))
        # the role's statement_timeout is for requests (common.db.provision_service); a migration may build an index
        # on a large table, and waits a while for the locks it needs
        connection.execute(text("SET statement_timeout = 0"))
        connection.execute(text("SET lock_timeout = '60s'"))
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=schema,
            include_schemas=False,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def _main() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
        await engine.dispose()

    asyncio.run(_main())


def migrations_of(package: str) -> Path:
    """``services/<svc>/migrations`` of the service whose Python package is ``package`` (its ``src/<package>`` sits
    two levels below the service's folder; workspace members are installed editable, so this holds in the image
    too). The one way a service, its CLI, ``common.provision`` and the tests find a service's migrations."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"package {package!r} is not installed")
    return Path(spec.origin).resolve().parents[2] / "migrations"
