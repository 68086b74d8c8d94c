"""Async SQLAlchemy helpers and per-service schema/role provisioning.

Each service owns one PostgreSQL schema and logs in with its own role, which owns that schema and has no privilege
on any other. Tables are declared WITHOUT a schema; the engine puts the service's schema first on the
``search_path``. That keeps the table code independent of the schema name, so tests can give every test its own
schema (and role) without touching the code.

One transaction per use case: ``unit_of_work`` opens it, repositories ``flush`` and never commit.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from pydantic import SecretStr
from sqlalchemy import MetaData, TextClause, bindparam, event, exc, literal_column, text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import BindTyping
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.types import TypeEngine

from common.errors import ValidationFailed
from common.outage import DATABASE
from common.telemetry import statement_span

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def _secret(url: SecretStr | str) -> str:
    return url.get_secret_value() if isinstance(url, SecretStr) else url


#: a pooled connection unused for longer than this is pinged before it is handed out again (``create_engine``)
PING_AFTER_IDLE_S = 5.0

_IDLE_SINCE = "common.db.idle_since"


def create_engine(
    url: SecretStr | str,
    *,
    schema: str,
    pool_size: int = 10,
    echo: bool = False,
    ping_after_idle_s: float = PING_AFTER_IDLE_S,
) -> AsyncEngine:
    """An asyncpg engine whose connections put ``schema`` first on the search path.

    A pooled connection is checked before it is handed out (``_checking_out``): one the server closed since its
    last use (a restart, an administrator, an idle timeout: asyncpg saw the socket close) is replaced at no cost,
    and one unused for longer than ``ping_after_idle_s`` is pinged first (SQLAlchemy's ping: ``BEGIN``, an empty
    statement, ``ROLLBACK`` — three round trips), so a connection a network fault left half-open is replaced too.
    A connection in steady use is not pinged: SQLAlchemy's ``pool_pre_ping`` paid those three round trips on every
    checkout (a third of a short transaction's round trips). What it leaves is a server loss that asyncpg has not
    seen yet within ``ping_after_idle_s`` of the connection's last use — the same failure as a loss during the
    transaction, which every caller already meets (the statement fails; SQLAlchemy invalidates the connection and
    the pool replaces it)."""
    _check_ident(schema)
    engine = create_async_engine(
        _secret(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        echo=echo,
        connect_args={"server_settings": {"search_path": schema, "application_name": f"svc-{schema}"}},
    )
    # a new connection made: the database answers (ends an outage noted by ``common.outage.DATABASE``)
    event.listen(engine.sync_engine, "connect", _connected)
    event.listen(engine.sync_engine, "checkin", _checked_in)
    event.listen(
        engine.sync_engine, "checkout", functools.partial(_checking_out, engine.sync_engine.dialect, ping_after_idle_s)
    )
    return engine


def _connected(*_: Any) -> None:
    DATABASE.recovered()


def _checked_in(_dbapi_connection: Any, record: Any) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _checking_out(dialect: Any, ping_after_idle_s: float, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Pool checkout: raising ``DisconnectionError`` makes the pool drop this connection and connect again (up to
    three times before the checkout fails)."""
    idle_since = record.info.get(_IDLE_SINCE)
    if idle_since is None:  # connected just now (the record's ``info`` starts empty with each connection)
        return
    if dbapi_connection.driver_connection.is_closed():
        raise exc.DisconnectionError("the server closed this pooled connection")
    idle_s = time.monotonic() - idle_since
    if idle_s < ping_after_idle_s:
        return
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as error:
        raise exc.DisconnectionError(
            f"a pooled connection unused for {idle_s:.0f} s failed its ping ({type(error).__name__})"
        ) from error


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the block exits normally, rolled back on any exception."""
    async with sessions() as session, session.begin():
        yield session


@asynccontextmanager
async def single_read(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for ONE read statement, run outside a transaction (autocommit): no ``BEGIN`` and ``COMMIT`` round
    trips around it. For a single statement only — each statement here is its own transaction, so two would read two
    different snapshots — and never for a write. The connection goes back to the pool transactional again. Sessions
    bound to a connection rather than an engine (a caller's transaction, e.g. a test's rolled-back one) read inside
    that transaction."""
    async with sessions() as session:
        if isinstance(session.bind, AsyncEngine):
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session


class ReadPool:
    """Idempotent reads of one statement each, straight on an asyncpg pool: the busiest reads of a service (the
    definition service's list pages). Against a Core statement on an autocommit engine this skips SQLAlchemy's
    execution layer, and the pool neither pings a connection on checkout nor resets it on release (a round trip
    each); about 0.15 ms less CPU per read, measured. Only single-statement reads belong here: a connection goes
    back to the pool as its statement left it.

    Statements are SQL text with ``:name`` parameters, as for ``text()``; each distinct text is compiled once to
    asyncpg's positional form (by SQLAlchemy's asyncpg dialect), and asyncpg prepares it once per connection.

    A connection the server dropped since its last use (a restart, an idle timeout, an administrator) fails its
    statement; asyncpg replaces it and the read runs once more. Any other error, or a second failure, is raised.
    A recorded trace gets a span per statement (``common.telemetry.statement_span``)."""

    def __init__(self, pool: asyncpg.Pool, *, database: str) -> None:
        self._pool = pool
        self.database = database

    @classmethod
    async def open(cls, url: SecretStr | str, *, schema: str, size: int, application_name: str) -> ReadPool:
        """A pool of up to ``size`` connections (one opened now) to ``url``, ``schema`` first on their search path."""
        dsn = asyncpg_dsn(url)
        pool = await asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=size,
            reset=_keep_session,
            init=_pool_connected,
            server_settings={"search_path": _check_ident(schema), "application_name": application_name},
        )
        return cls(pool, database=make_url(dsn).database or "")

    async def value(self, statement: str, params: Mapping[str, Any]) -> Any:
        """The first column of the first row (``None`` when there is none)."""
        sql, names = _positional(statement)
        args = [params[name] for name in names]
        with statement_span(statement, database=self.database):
            async with self._pool.acquire() as connection:
                try:
                    return await connection.fetchval(sql, *args)
                except Exception as exc:
                    if not _closed(connection):
                        raise
                    log.warning("a pooled connection was dropped by the server (%s); reading again", type(exc).__name__)
            return await self._pool.fetchval(sql, *args)

    async def close(self) -> None:
        await self._pool.close()


def _closed(connection: asyncpg.Connection) -> bool:
    """Whether the server dropped ``connection`` (the pool detaches a lost connection from its proxy at once)."""
    try:
        return bool(connection.is_closed())
    except asyncpg.InterfaceError:
        return True


async def _pool_connected(connection: asyncpg.Connection) -> None:
    DATABASE.recovered()


async def _keep_session(connection: asyncpg.Connection) -> None:
    """A released connection is kept as it is: its statements were single reads (no session state to undo)."""


_ASYNCPG_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]


@functools.lru_cache(maxsize=256)
def _positional(statement: str) -> tuple[str, tuple[str, ...]]:
    compiled = text(statement).compile(dialect=_ASYNCPG_DIALECT)
    return compiled.string, tuple(compiled.positiontup or ())


class _NamedParameters(PGDialect):
    """PostgreSQL SQL with ``:name`` parameters and no casts on them (the casts are the executing dialect's)."""

    bind_typing = BindTyping.NONE


_NAMED_PG = _NamedParameters(paramstyle="named")  # type: ignore[no-untyped-call]


def frozen_statement(statement: ClauseElement, types: Mapping[str, TypeEngine[Any]]) -> TextClause:
    """``statement`` as SQL text with its ``:name`` parameters typed by ``types``: for a statement SQLAlchemy does not
    cache (its PostgreSQL ``insert`` — ``ON CONFLICT`` — has no cache key, so it is compiled again on every
    execution, ~0.5 ms of CPU), built once by the caller (e.g. an ``lru_cache`` per set of columns) and executed
    with the values as parameters: a text statement is compiled once per engine and asyncpg prepares it once per
    connection. ``statement`` takes its values as ``bindparam(name)``; ``types`` gives each its column type (the
    JSON and enum handling of the column, the asyncpg cast)."""
    sql = str(statement.compile(dialect=_NAMED_PG))
    return text(sql).bindparams(*(bindparam(name, type_=type_) for name, type_ in types.items()))


#: what ``values_shape`` gives: per column its SQL when the value is a SQL expression (``func.now()``), else None
ValuesShape = tuple[tuple[str, str | None], ...]


def values_shape(values: Mapping[str, Any]) -> ValuesShape | None:
    """The columns of ``values`` with the SQL of those given as a SQL expression without parameters (``func.now()``):
    the key of a statement built by ``frozen_statement`` for these values (``shape_values`` writes them into it);
    None when an expression has parameters of its own (build that statement the usual way)."""
    shape: list[tuple[str, str | None]] = []
    for name, value in values.items():
        if isinstance(value, ClauseElement):
            compiled = value.compile(dialect=_NAMED_PG)
            if compiled.params:
                return None
            shape.append((name, str(compiled)))
        else:
            shape.append((name, None))
    return tuple(shape)


def shape_values(shape: ValuesShape) -> dict[str, Any]:
    """``values`` for an insert of ``shape``: a ``bindparam`` per plain value, the SQL of each expression."""
    return {name: bindparam(name) if sql is None else literal_column(sql) for name, sql in shape}


def _check_ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"not a safe SQL identifier: {name!r}")
    return name


@dataclass(frozen=True)
class ServiceDatabase:
    """What provisioning produced for one service: its schema, role and the URL it logs in with."""

    schema: str
    role: str
    url: SecretStr


def asyncpg_dsn(url: SecretStr | str) -> str:
    """A plain ``postgresql://`` DSN (for asyncpg.connect) from a SQLAlchemy URL."""
    u = make_url(_secret(url))
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


#: the service roles' defaults: no statement of a request runs longer, no lock is waited for longer, and no
#: transaction idles open longer (a stuck client cannot hold locks or a connection for ever)
STATEMENT_TIMEOUT = "60s"
LOCK_TIMEOUT = "10s"
IDLE_IN_TRANSACTION_TIMEOUT = "120s"
_DURATION = re.compile(r"^\d+(ms|s|min)?$")


async def provision_service(
    admin_url: SecretStr | str,
    *,
    schema: str,
    role: str,
    password: SecretStr,
    statement_timeout: str = STATEMENT_TIMEOUT,
    lock_timeout: str = LOCK_TIMEOUT,
) -> ServiceDatabase:
    """Create (idempotently) ``role`` with LOGIN and ``schema`` owned by it; the role gets nothing else.

    PostgreSQL 15 no longer lets PUBLIC create in schema ``public``; we also revoke PUBLIC's USAGE on it so a service
    role sees only its own schema. Other services' schemas are owned by their roles and grant nothing to others.
    The role's sessions get ``statement_timeout``, ``lock_timeout`` and ``idle_in_transaction_session_timeout``
    (migrations lift the first two for their own session, ``common.migrations``).
    """
    for value in (statement_timeout, lock_timeout):
        if not _DURATION.match(value):
            raise ValueError(f"not a PostgreSQL duration: {value!r} (e.g. 30s, 500ms, 2min)")
    _check_ident(schema)
    _check_ident(role)
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        pw = password.get_secret_value()
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        # Identifiers are checked above; the password goes through quote_literal on the server.
        quoted_pw = await conn.fetchval("SELECT quote_literal($1)", pw)
        verb = "ALTER" if exists else "CREATE"
        await conn.execute(f'{verb} ROLE "{role}" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {quoted_pw}')
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{role}"')
        await conn.execute(f'ALTER SCHEMA "{schema}" OWNER TO "{role}"')
        await conn.execute(f'ALTER ROLE "{role}" SET search_path = "{schema}"')
        await conn.execute(f"ALTER ROLE \"{role}\" SET statement_timeout = '{statement_timeout}'")
        await conn.execute(f"ALTER ROLE \"{role}\" SET lock_timeout = '{lock_timeout}'")
        await conn.execute(
            f"ALTER ROLE \"{role}\" SET idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION_TIMEOUT}'"
        )
        await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        dbname = await conn.fetchval("SELECT current_database()")
        await conn.execute(f'GRANT CONNECT ON DATABASE "{dbname}" TO "{role}"')
    finally:
        await conn.close()
    u = make_url(_secret(admin_url)).set(drivername="postgresql+asyncpg", username=role, password=pw)
    return ServiceDatabase(schema=schema, role=role, url=SecretStr(u.render_as_string(hide_password=False)))


async def drop_service(admin_url: SecretStr | str, *, schema: str, role: str) -> None:
    _check_ident(schema)
    _check_ident(role)
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        if exists:
            dbname = await conn.fetchval("SELECT current_database()")
            await conn.execute(f'REVOKE ALL ON DATABASE "{dbname}" FROM "{role}"')
            await conn.execute(f'DROP OWNED BY "{role}"')
            await conn.execute(f'DROP ROLE "{role}"')
    finally:
        await conn.close()


def invalid_input(exc: BaseException) -> ValidationFailed | None:
    """The 422 for a value PostgreSQL refused as data (SQLSTATE class 22: a number out of its column's range, text
    with a NUL character, …) or asyncpg could not encode for its parameter, found anywhere in ``exc``'s causes;
    ``None`` for any other error. The backstop behind the bounds the edges declare (``common.bounds``): the
    request's transaction rolled back, nothing was written, and the caller learns which value was refused."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, asyncpg.DataError | asyncpg.exceptions._base.DataError):
            message = str(current).splitlines()[0] if str(current) else type(current).__name__
            return ValidationFailed(
                f"a value of the request cannot be stored: {message}", reason=type(current).__name__
            )
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return None
