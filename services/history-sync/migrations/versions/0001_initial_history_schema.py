"""initial history schema

Revision ID: 0001
Revises:
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alert_incident',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('workflow_id', sa.BigInteger(), nullable=False),
    sa.Column('rule', sa.Text(), nullable=False),
    sa.Column('incident_key', sa.Text(), nullable=False),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_incident')),
    sa.UniqueConstraint('incident_key', name=op.f('uq_alert_incident_incident_key'))
    )
    op.create_index('uq_alert_incident_open', 'alert_incident', ['workflow_id', 'rule'], unique=True, postgresql_where=sa.text('closed_at IS NULL'))
    op.create_table('engine_version_map',
    sa.Column('workflow_id', sa.BigInteger(), nullable=False),
    sa.Column('engine_version', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.BigInteger(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('workflow_id', 'engine_version', name=op.f('pk_engine_version_map'))
    )
    op.create_table('inbox',
    sa.Column('consumer', sa.Text(), nullable=False),
    sa.Column('event_id', sa.Text(), nullable=False),
    sa.Column('topic', sa.Text(), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('consumer', 'event_id', name=op.f('pk_inbox'))
    )
    op.create_index('ix_inbox_processed_at', 'inbox', ['processed_at'], unique=False)
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('event_id', sa.Text(), nullable=False),
    sa.Column('topic', sa.Text(), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('value', sa.LargeBinary(), nullable=False),
    sa.Column('headers', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('event_id', name=op.f('uq_outbox_event_id'))
    )
    op.create_table('sync_run',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('workflow_id', sa.BigInteger(), nullable=False),
    sa.Column('cycle', sa.BigInteger(), nullable=False),
    sa.Column('replica', sa.Text(), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_run'))
    )
    op.create_index('ix_sync_run_finished_at', 'sync_run', ['finished_at'], unique=False)
    op.create_index('ix_sync_run_workflow_id_cycle', 'sync_run', ['workflow_id', 'cycle'], unique=False)
    op.create_table('tracked_workflow',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('engine_workflow_code', sa.BigInteger(), nullable=False),
    sa.Column('project_code', sa.BigInteger(), nullable=False),
    sa.Column('release_state', sa.Text(), nullable=False),
    sa.Column('online_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('offline_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_publish_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_synced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_sync_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('lease_owner', sa.Text(), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sync_count', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tracked_workflow'))
    )
    op.create_index('ix_tracked_workflow_next_sync_at', 'tracked_workflow', ['next_sync_at'], unique=False)
    op.create_table('workflow_instance_cache',
    sa.Column('workflow_id', sa.BigInteger(), nullable=False),
    sa.Column('instance_id', sa.BigInteger(), nullable=False),
    sa.Column('rank', sa.SmallInteger(), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.Column('start_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration', sa.Text(), nullable=True),
    sa.Column('command_type', sa.Text(), nullable=False),
    sa.Column('ds_command_type', sa.Text(), nullable=True),
    sa.Column('run_times', sa.Integer(), nullable=True),
    sa.Column('host', sa.Text(), nullable=True),
    sa.Column('engine_version', sa.Integer(), nullable=True),
    sa.Column('platform_version_id', sa.BigInteger(), nullable=True),
    sa.Column('synced_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('workflow_id', 'instance_id', name=op.f('pk_workflow_instance_cache'))
    )
    op.create_index('ix_workflow_instance_cache_instance_id', 'workflow_instance_cache', ['instance_id'], unique=False)
    op.create_index('ix_workflow_instance_cache_workflow_id_rank', 'workflow_instance_cache', ['workflow_id', 'rank'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_workflow_instance_cache_workflow_id_rank', table_name='workflow_instance_cache')
    op.drop_index('ix_workflow_instance_cache_instance_id', table_name='workflow_instance_cache')
    op.drop_table('workflow_instance_cache')
    op.drop_index('ix_tracked_workflow_next_sync_at', table_name='tracked_workflow')
    op.drop_table('tracked_workflow')
    op.drop_index('ix_sync_run_workflow_id_cycle', table_name='sync_run')
    op.drop_index('ix_sync_run_finished_at', table_name='sync_run')
    op.drop_table('sync_run')
    op.drop_table('outbox')
    op.drop_index('ix_inbox_processed_at', table_name='inbox')
    op.drop_table('inbox')
    op.drop_table('engine_version_map')
    op.drop_index('uq_alert_incident_open', table_name='alert_incident', postgresql_where=sa.text('closed_at IS NULL'))
    op.drop_table('alert_incident')
