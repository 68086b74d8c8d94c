"""``create_engine``'s pool: a connection the server closed is replaced on checkout, one unused for a while is pinged
first (a connection a network fault cut silently is replaced too), and one in steady use is handed out without the
ping's three round trips."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest
from pydantic import SecretStr
from sqlalchemy import exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import asyncpg_dsn, create_engine
from common.testing.fixtures import ProvisionFn


class _Link:
    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream = upstream
        self.cut = False


class CuttableProxy:
    """A TCP forwarder to PostgreSQL whose connections can be cut the way a network fault does it: the server loses
    its side, the client hears nothing (no FIN) until it sends again, then its connection is reset."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self.links: list[_Link] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for link in self.links:
            link.client.transport.abort()
            link.upstream.transport.abort()

    def cut_all(self) -> None:
        for link in self.links:
            if not link.cut:
                link.cut = True
                link.upstream.transport.abort()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        link = _Link(writer, up_writer)
        self.links.append(link)
        await asyncio.gather(self._to_server(link, reader), self._to_client(link, up_reader), return_exceptions=True)

    @staticmethod
    async def _to_server(link: _Link, reader: asyncio.StreamReader) -> None:
        while data := await reader.read(65536):
            if link.cut:
                link.client.transport.abort()  # the client spoke on a connection that no longer exists
                return
            link.upstream.write(data)
        link.upstream.close()

    @staticmethod
    async def _to_client(link: _Link, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                link.client.write(data)
        if not link.cut:  # a cut is silent towards the client
            link.client.close()


@pytest.fixture
async def proxy_url(service_database: ProvisionFn) -> AsyncIterator[tuple[CuttableProxy, str, str]]:
    db = await service_database("pool")
    url = make_url(db.url.get_secret_value())
    proxy = CuttableProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False), db.schema
    await proxy.stop()


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.begin() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_connection_the_server_closed_is_replaced_without_a_ping(
    service_database: ProvisionFn, postgres_admin_url: str
) -> None:
    db = await service_database("pool")
    # no ping within the hour: what replaces the connection is asyncpg having seen the server close it
    engine = create_engine(db.url, schema=db.schema, pool_size=1, ping_after_idle_s=3600)
    admin = await asyncpg.connect(asyncpg_dsn(postgres_admin_url))
    try:
        first = await backend_pid(engine)
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
        for _ in range(100):  # until the backend has exited (its goodbye is then on the pooled socket)
            if not await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", first):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        second = await backend_pid(engine)  # no error: the closed connection was dropped at checkout
        assert second != first
        assert await backend_pid(engine) == second  # and the new one is kept
    finally:
        await admin.close()
        await engine.dispose()


async def test_a_connection_unused_for_a_while_is_pinged_and_replaced_when_cut(
    proxy_url: tuple[CuttableProxy, str, str],
) -> None:
    proxy, url, schema = proxy_url
    engine = create_engine(SecretStr(url), schema=schema, pool_size=1, ping_after_idle_s=0.2)
    try:
        first = await backend_pid(engine)
        proxy.cut_all()
        await asyncio.sleep(0.5)  # longer than ping_after_idle_s
        second = await backend_pid(engine)  # the ping failed at checkout; the pool connected again
        assert second != first
        assert len(proxy.links) == 2
    finally:
        await engine.dispose()


async def test_a_connection_in_steady_use_is_not_pinged(proxy_url: tuple[CuttableProxy, str, str]) -> None:
    """No ping (had there been one, it would have found the cut and the pool connected again without an error) —
    the window the saving leaves: a connection cut silently within ``ping_after_idle_s`` of its last use fails its
    first statement, as a cut during the transaction would, and the pool replaces it for the next one."""
    proxy, url, schema = proxy_url
    engine = create_engine(SecretStr(url), schema=schema, pool_size=1, ping_after_idle_s=3600)
    try:
        first = await backend_pid(engine)
        assert await backend_pid(engine) == first
        proxy.cut_all()
        with pytest.raises(exc.DBAPIError) as failed:
            await backend_pid(engine)
        assert failed.value.connection_invalidated
        assert await backend_pid(engine) != first
        assert len(proxy.links) == 2
    finally:
        await engine.dispose()
