"""Prometheus metrics of history-sync."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CYCLE_SECONDS = Histogram(
    "history_sync_cycle_duration_seconds",
    "Time one replica spent on a sync cycle (claim, fetch, write) when it had due workflows",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300),
)
WORKFLOWS_SYNCED = Counter("history_sync_workflows_synced_total", "Workflows synced from DS", ["trigger"])
WORKFLOWS_FAILED = Counter("history_sync_workflows_failed_total", "Workflow syncs that failed", ["trigger"])
LEASES_LOST = Counter("history_sync_leases_lost_total", "Sync results dropped because another replica took over")
OLDEST_SYNC_AGE = Gauge(
    "history_sync_oldest_sync_age_seconds", "Age of the oldest last successful sync among synced workflows"
)
NEVER_SYNCED = Gauge("history_sync_never_synced_workflows", "Synced workflows without any successful sync yet")
# task-level metrics, per workflow and state (never per task: the label set stays bounded by the workflows)
TASK_RUN_SECONDS = Histogram(
    "history_sync_task_run_duration_seconds",
    "Duration of the task instances of finished workflow runs, observed once per task instance when first read",
    ["workflow", "state"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600),
)
TASK_RUNS = Counter(
    "history_sync_task_runs_total",
    "Task instances of finished workflow runs, counted once when first read",
    ["workflow", "state"],
)
TASK_FETCHES_FAILED = Counter(
    "history_sync_task_fetches_failed_total",
    "Reads of a finished run's task instances that failed (read again at the next sync)",
)
