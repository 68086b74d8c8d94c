"""read projections: last executions on data_workflow, task dependency projection, workflow counter

- ``data_workflow.last_executions`` (jsonb, newest first, at most 10: instance_id, state, start_time, end_time,
  duration) and ``executions_synced_at`` (the ``synced_at`` of the event that wrote them: older events are ignored),
  kept from ``execution.synced``;
- ``task_dependency_projection``: lineage-resolver's ``task_dependency_view`` as ``task.dependency.changed`` reports
  it (GIN on both arrays: the task list's ``upstream_task_id``/``downstream_task_id`` filters are index scans); an
  existing deployment fills it with ``python -m definition sync-dependencies``;
- ``workflow_counter``: the exact number of workflows, kept by statement-level triggers on ``data_workflow`` in the
  inserting/deleting transaction itself, spread over 16 slots by backend (concurrent creators do not queue on one row);
  the unfiltered list's total is ``sum(n)`` instead of counting every workflow per request.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMPTY_IDS = sa.text("'{}'::bigint[]")
COUNTER_SLOTS = 16


def upgrade() -> None:
    op.add_column("data_workflow", sa.Column("last_executions", postgresql.JSONB(), nullable=True))
    op.add_column("data_workflow", sa.Column("executions_synced_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "task_dependency_projection",
        sa.Column("task_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("upstream_task_ids", postgresql.ARRAY(sa.BigInteger()), server_default=EMPTY_IDS, nullable=False),
        sa.Column("downstream_task_ids", postgresql.ARRAY(sa.BigInteger()), server_default=EMPTY_IDS, nullable=False),
        sa.Column("upstream_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("downstream_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name="pk_task_dependency_projection"),
    )
    op.create_index(
        "ix_task_dependency_projection_upstream_task_ids",
        "task_dependency_projection",
        ["upstream_task_ids"],
        postgresql_using="gin",
    )
    op.create_index(
        "ix_task_dependency_projection_downstream_task_ids",
        "task_dependency_projection",
        ["downstream_task_ids"],
        postgresql_using="gin",
    )

    op.create_table(
        "workflow_counter",
        sa.Column("slot", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("n", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("slot", name="pk_workflow_counter"),
    )
    # ``SET search_path FROM CURRENT``: the functions resolve the counter in this schema whoever fires them.
    op.execute(
        f"""
        CREATE FUNCTION workflow_counter_add() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
        DECLARE
            delta bigint;
        BEGIN
            IF TG_OP = 'INSERT' THEN
                SELECT count(*) INTO delta FROM new_rows;
            ELSE
                SELECT -count(*) INTO delta FROM old_rows;
            END IF;
            IF delta <> 0 THEN
                INSERT INTO workflow_counter AS c (slot, n) VALUES (pg_backend_pid() % {COUNTER_SLOTS}, delta)
                ON CONFLICT (slot) DO UPDATE SET n = c.n + EXCLUDED.n;
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION workflow_counter_reset() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
        BEGIN
            DELETE FROM workflow_counter;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER data_workflow_count_insert AFTER INSERT ON data_workflow REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION workflow_counter_add()"
    )
    op.execute(
        "CREATE TRIGGER data_workflow_count_delete AFTER DELETE ON data_workflow REFERENCING OLD TABLE AS old_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION workflow_counter_add()"
    )
    op.execute(
        "CREATE TRIGGER data_workflow_count_truncate AFTER TRUNCATE ON data_workflow "
        "FOR EACH STATEMENT EXECUTE FUNCTION workflow_counter_reset()"
    )
    # the workflows that exist already (the table is locked so that none is created between the count and the trigger)
    op.execute("LOCK TABLE data_workflow IN SHARE MODE")
    op.execute("INSERT INTO workflow_counter (slot, n) SELECT 0, count(*) FROM data_workflow")


def downgrade() -> None:
    for trigger in ("data_workflow_count_insert", "data_workflow_count_delete", "data_workflow_count_truncate"):
        op.execute(f"DROP TRIGGER {trigger} ON data_workflow")
    op.execute("DROP FUNCTION workflow_counter_add()")
    op.execute("DROP FUNCTION workflow_counter_reset()")
    op.drop_table("workflow_counter")
    op.drop_table("task_dependency_projection")
    op.drop_column("data_workflow", "executions_synced_at")
    op.drop_column("data_workflow", "last_executions")
