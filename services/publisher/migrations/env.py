"""Alembic environment of the publisher (schema chosen by the caller, see common.migrations)."""

from common.migrations import run_env
from publisher.db.tables import metadata

run_env(metadata)
