"""What the query modules share: reads run as one SQL statement (``Read``) and small SQL helpers."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    TextClause,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

_BIGINT_ARRAY = ARRAY(BigInteger)


def _like(text_: str) -> str:
    escaped = text_.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _utc(column: str) -> str:
    """A ``timestamptz`` as ISO 8601 in UTC (``…Z``), whatever the session's time zone."""
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


class Read(NamedTuple):
    """A read of ONE statement: SQL text with ``:name`` parameters, and their values. The service runs it on its
    read pool (``common.db.ReadPool``) or, without one, with :func:`read_value` in a unit of work."""

    sql: str
    params: dict[str, Any]


async def read_value(session: AsyncSession | AsyncConnection, read: Read) -> Any:
    """The single value ``read`` answers."""
    return (await session.execute(_statement(read.sql), read.params)).scalar_one()


@functools.lru_cache(maxsize=256)
def _statement(sql: str) -> TextClause:
    """The ``text()`` of a list's SQL, built once per shape (a few per list: one per combination of filters):
    ``text()`` parses the SQL for its bind parameters each time it is called, ~5 % of a list request's CPU."""
    return text(sql)
