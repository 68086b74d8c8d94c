"""Alembic environment of the definition service (schema chosen by the caller: ``common.migrations``)."""

from common.migrations import run_env
from definition.db.tables import metadata

run_env(metadata)
