"""A minimal 'service' for the foundation tests: outbox, inbox and an ``effects`` table in its own schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import ClassVar

import pytest
from sqlalchemy import BigInteger, Column, Identity, Integer, MetaData, Table, Text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from common.db import ServiceDatabase, create_engine, new_metadata, session_factory
from common.events import Event
from common.outbox import add_outbox_tables
from common.testing.fixtures import ProvisionFn

metadata: MetaData = new_metadata()
outbox_table, inbox_table = add_outbox_tables(metadata)
effects = Table(
    "effects",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("seq", Integer, nullable=False),
)


class Counted(Event):
    """A test event: ``seq`` increases per ``key``."""

    TYPE: ClassVar[str] = "test.counted"
    TOPIC: ClassVar[str] = "test.counted"
    key_: str
    seq: int

    def key(self) -> str:
        return self.key_


@dataclass
class Svc:
    db: ServiceDatabase
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


@pytest.fixture
async def svc(service_database: ProvisionFn) -> AsyncIterator[Svc]:
    db = await service_database("found")
    engine = create_engine(db.url, schema=db.schema)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield Svc(db, engine, session_factory(engine))
    await engine.dispose()
