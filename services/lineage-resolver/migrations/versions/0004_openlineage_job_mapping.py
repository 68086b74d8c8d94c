"""OpenLineage job <-> task mapping as data: a task's job identity, pattern rules, and the recently seen jobs no
rule maps (with the datasets of their latest run, applied once a person maps the job)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "openlineage_job_task",
        sa.Column("namespace", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("set_by", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("task_id", name="uq_openlineage_job_task_task_id"),
    )
    op.create_table(
        "openlineage_job_pattern",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name_regex", sa.Text(), nullable=False),
        sa.Column("namespace", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index(
        "ux_openlineage_job_pattern_rule",
        "openlineage_job_pattern",
        ["name_regex", sa.text("coalesce(namespace, '')")],
        unique=True,
    )
    op.create_table(
        "openlineage_unmapped_job",
        sa.Column("namespace", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("producer", sa.Text(), nullable=True),
        sa.Column("reads", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("writes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("seen_count", sa.Integer(), nullable=False, server_default=sa.text("1")),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_openlineage_unmapped_job_last_seen_at", "openlineage_unmapped_job", ["last_seen_at"])


def downgrade() -> None:
    op.drop_index("ix_openlineage_unmapped_job_last_seen_at", table_name="openlineage_unmapped_job")
    op.drop_table("openlineage_unmapped_job")
    op.drop_index("ux_openlineage_job_pattern_rule", table_name="openlineage_job_pattern")
    op.drop_table("openlineage_job_pattern")
    op.drop_table("openlineage_job_task")
