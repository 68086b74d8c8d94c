"""Alembic environment of the gateway (schema chosen by the caller: ``common.migrations``)."""

from common.migrations import run_env
from gateway.db.tables import metadata

run_env(metadata)
