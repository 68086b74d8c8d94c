"""Alembic environment of the lineage-resolver (schema chosen by the caller: ``common.migrations``)."""

from common.migrations import run_env
from lineage_resolver.db.tables import metadata

run_env(metadata)
