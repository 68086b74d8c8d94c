"""dependency edges: ``task_dependency_edge`` (one row per dependency) replaces the GIN indexes of the view

``task_dependency_view`` keeps its columns (upstream/downstream id arrays and counts: the read path and the events'
sets), but its two GIN indexes go. A GIN index re-inserts *every* element of an array whenever its row gets a new
version: a hub task's downstream array holds ~9,000-20,000 ids, so one new reader of a hub table cost 100-400 ms of
GIN maintenance (or a pending-list merge in the foreground with ``fastupdate``). The task list's filters now read
``task_dependency_edge`` (``upstream_task_id``, ``downstream_task_id``): a primary key on (upstream, downstream) and an
index on (downstream, upstream), so ``upstreamTaskId=X`` / ``downstreamTaskId=Y`` are index-only range scans, and a
changed array costs only the edges that changed.

The arrays are stored ``EXTERNAL`` (out of line, not compressed): pglz-compressing a hub's array again on every
change cost ~10 ms; likewise ``outbox.value`` (a hub task's event is ~250 kB of JSON, ~14 ms of pglz).

The edge table is kept by statement-level triggers on the view (transition tables; diffs of the old and new
``downstream_task_ids`` of rows whose array changed), so it follows every writer of the view — the service, the
rebuild, bulk loads — like an index. They are ``ENABLE ALWAYS`` so loads that run with ``session_replication_role =
replica`` keep it too. Updating a row's ``task_id`` is not supported (nothing does). The service's own writes know
each row's old and new sets already: they write the edge delta themselves and set ``lineage.edges_from_caller``
(transaction-local) around their view statements so the triggers stand aside (the SQL diff of a hub's arrays cost
~16 ms per row).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EDGE = "task_dependency_edge"
#: a writer that maintains the edges itself (it knows the old and new sets) sets this on for its statements
CALLER_FLAG = "lineage.edges_from_caller"
VIEW = "task_dependency_view"

FUNCTIONS = {
    "insert": f"""
        INSERT INTO {EDGE} (upstream_task_id, downstream_task_id)
        SELECT n.task_id, d FROM new_rows n CROSS JOIN LATERAL unnest(n.downstream_task_ids) AS d
        ON CONFLICT DO NOTHING
    """,
    # one pass: every element of a changed row's old array counts -1, of its new array +1; what does not cancel
    # is the diff (one hash aggregate; two EXCEPTs cost twice as much on hub arrays)
    "update": f"""
        WITH changed AS (
            SELECT o.task_id, o.downstream_task_ids AS old_ids, n.downstream_task_ids AS new_ids
            FROM old_rows o JOIN new_rows n ON n.task_id = o.task_id
            WHERE o.downstream_task_ids IS DISTINCT FROM n.downstream_task_ids
        ), diff AS (
            SELECT up, down, sum(sign) AS sign FROM (
                SELECT task_id AS up, d AS down, -1 AS sign FROM changed CROSS JOIN LATERAL unnest(old_ids) AS d
                UNION ALL
                SELECT task_id, d, 1 FROM changed CROSS JOIN LATERAL unnest(new_ids) AS d
            ) AS s
            GROUP BY up, down
            HAVING sum(sign) <> 0
        ), removed AS (
            DELETE FROM {EDGE} e USING diff
            WHERE diff.sign < 0 AND e.upstream_task_id = diff.up AND e.downstream_task_id = diff.down
        )
        INSERT INTO {EDGE} (upstream_task_id, downstream_task_id) SELECT up, down FROM diff WHERE sign > 0
        ON CONFLICT DO NOTHING
    """,
    "delete": f"""
        DELETE FROM {EDGE} e
        USING (SELECT o.task_id AS up, d AS down FROM old_rows o CROSS JOIN LATERAL unnest(o.downstream_task_ids) AS d)
            AS gone
        WHERE e.upstream_task_id = gone.up AND e.downstream_task_id = gone.down
    """,
    "truncate": f"TRUNCATE {EDGE}",
}
TRANSITIONS = {
    "insert": "REFERENCING NEW TABLE AS new_rows",
    "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "REFERENCING OLD TABLE AS old_rows",
    "truncate": "",
}


def upgrade() -> None:
    op.create_table(
        EDGE,
        sa.Column("upstream_task_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("downstream_task_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("upstream_task_id", "downstream_task_id", name="pk_task_dependency_edge"),
    )
    op.execute(
        f"INSERT INTO {EDGE} (upstream_task_id, downstream_task_id) "
        f"SELECT v.task_id, d FROM {VIEW} v CROSS JOIN LATERAL unnest(v.downstream_task_ids) AS d"
    )
    op.create_index(
        "ix_task_dependency_edge_downstream_task_id_upstream_task_id",
        EDGE,
        ["downstream_task_id", "upstream_task_id"],
    )
    for op_name, body in FUNCTIONS.items():
        function = f"{EDGE}_on_{op_name}"
        op.execute(
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF current_setting('{CALLER_FLAG}', true) = 'on' THEN RETURN NULL; END IF; "
            f"{body}; RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {function} AFTER {op_name.upper()} ON {VIEW} {TRANSITIONS[op_name]} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
        op.execute(f"ALTER TABLE {VIEW} ENABLE ALWAYS TRIGGER {function}")
    op.drop_index("ix_task_dependency_view_upstream_task_ids", table_name=VIEW)
    op.drop_index("ix_task_dependency_view_downstream_task_ids", table_name=VIEW)
    # hub arrays (70-160 kB) out of line without pglz: compressing one on every change cost ~10 ms, reading it back
    # a decompression; small arrays stay inline either way
    for column in ("upstream_task_ids", "downstream_task_ids"):
        op.execute(f"ALTER TABLE {VIEW} ALTER COLUMN {column} SET STORAGE EXTERNAL")
    # the same for staged events: a hub task's task.dependency.changed is ~250 kB of JSON (~14 ms of pglz each)
    op.execute("ALTER TABLE outbox ALTER COLUMN value SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.execute("ALTER TABLE outbox ALTER COLUMN value SET STORAGE EXTENDED")
    for column in ("upstream_task_ids", "downstream_task_ids"):
        op.execute(f"ALTER TABLE {VIEW} ALTER COLUMN {column} SET STORAGE EXTENDED")
    op.create_index("ix_task_dependency_view_upstream_task_ids", VIEW, ["upstream_task_ids"], postgresql_using="gin")
    op.create_index(
        "ix_task_dependency_view_downstream_task_ids", VIEW, ["downstream_task_ids"], postgresql_using="gin"
    )
    for op_name in FUNCTIONS:
        function = f"{EDGE}_on_{op_name}"
        op.execute(f"DROP TRIGGER {function} ON {VIEW}")
        op.execute(f"DROP FUNCTION {function}()")
    op.drop_table(EDGE)
