from common.migrations import run_env
from history_sync.db.tables import metadata

run_env(metadata)
