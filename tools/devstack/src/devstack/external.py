"""External services selected through the environment (then devstack starts nothing).

* ``DATABASE_URL`` – an existing PostgreSQL (any of ``postgresql://``, ``postgres://``,
  ``postgresql+asyncpg://`` …).
* ``KAFKA_BOOTSTRAP_SERVERS`` – an existing Kafka cluster (``host:port[,host:port…]``).
"""

from __future__ import annotations

import os
import re

DATABASE_URL_ENV = "DATABASE_URL"
KAFKA_BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"

_SCHEME = re.compile(r"^(?:postgres|postgresql)(?:\+[A-Za-z0-9_]+)?://")


def external_database_url() -> str | None:
    value = os.environ.get(DATABASE_URL_ENV, "").strip()
    return value or None


def external_kafka_bootstrap() -> str | None:
    value = os.environ.get(KAFKA_BOOTSTRAP_ENV, "").strip()
    return value or None


def plain_pg_url(url: str) -> str:
    """``postgresql://…`` form (libpq / asyncpg.connect) of a PostgreSQL URL with any driver suffix."""
    if not _SCHEME.match(url):
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    return _SCHEME.sub("postgresql://", url, count=1)


def asyncpg_sqlalchemy_url(url: str) -> str:
    """``postgresql+asyncpg://…`` form (SQLAlchemy) of a PostgreSQL URL."""
    if not _SCHEME.match(url):
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    return _SCHEME.sub("postgresql+asyncpg://", url, count=1)
