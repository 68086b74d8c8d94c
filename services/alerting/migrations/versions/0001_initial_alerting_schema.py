"""initial alerting schema

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
    op.create_table('alert',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('incident_key', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('severity', sa.Text(), nullable=False),
    sa.Column('workflow_id', sa.BigInteger(), nullable=True),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('occurrences', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert')),
    sa.UniqueConstraint('incident_key', name=op.f('uq_alert_incident_key'))
    )
    op.create_index('ix_alert_first_seen_at', 'alert', ['first_seen_at'], unique=False)
    op.create_table('channel_bucket',
    sa.Column('channel', sa.Text(), nullable=False),
    sa.Column('tokens', sa.Double(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('channel', name=op.f('pk_channel_bucket'))
    )
    op.create_table('dead_letter_count',
    sa.Column('topic', sa.Text(), nullable=False),
    sa.Column('total', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('topic', name=op.f('pk_dead_letter_count'))
    )
    op.create_table('inbox',
    sa.Column('consumer', sa.Text(), nullable=False),
    sa.Column('event_id', sa.Text(), nullable=False),
    sa.Column('topic', sa.Text(), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('consumer', 'event_id', name=op.f('pk_inbox'))
    )
    op.create_index('ix_inbox_processed_at', 'inbox', ['processed_at'], unique=False)
    op.create_table('inspection_run',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('trigger', sa.Text(), nullable=False),
    sa.Column('scheduled_for', sa.Date(), nullable=True),
    sa.Column('status', sa.Text(), server_default=sa.text("'running'"), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checks', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('summary', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.CheckConstraint("status IN ('running', 'completed', 'failed')", name=op.f('ck_inspection_run_status')),
    sa.CheckConstraint("trigger IN ('schedule', 'api', 'cli')", name=op.f('ck_inspection_run_trigger')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_run')),
    sa.UniqueConstraint('scheduled_for', name=op.f('uq_inspection_run_scheduled_for'))
    )
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
    op.create_table('alert_delivery',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('alert_id', sa.BigInteger(), nullable=False),
    sa.Column('channel', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'pending'"), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('message_id', sa.Text(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name=op.f('ck_alert_delivery_status')),
    sa.ForeignKeyConstraint(['alert_id'], ['alert.id'], name=op.f('fk_alert_delivery_alert_id_alert'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_delivery')),
    sa.UniqueConstraint('alert_id', 'channel', name=op.f('uq_alert_delivery_alert_id_channel'))
    )
    op.create_index('ix_alert_delivery_due', 'alert_delivery', ['channel', 'next_attempt_at'], unique=False, postgresql_where=sa.text("status = 'pending'"))
    op.create_table('inspection_finding',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('run_id', sa.BigInteger(), nullable=False),
    sa.Column('finding_key', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('subject', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('workflow_id', sa.BigInteger(), nullable=True),
    sa.Column('ticket_record_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['inspection_run.id'], name=op.f('fk_inspection_finding_run_id_inspection_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_finding')),
    sa.UniqueConstraint('run_id', 'finding_key', name=op.f('uq_inspection_finding_run_id_finding_key'))
    )
    op.create_table('inspection_ticket',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('finding_key', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'open'"), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('subject', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('ticket_id', sa.Text(), nullable=True),
    sa.Column('ticket_error', sa.Text(), nullable=True),
    sa.Column('ticket_attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('opened_run_id', sa.BigInteger(), nullable=True),
    sa.Column('last_seen_run_id', sa.BigInteger(), nullable=True),
    sa.Column('closed_run_id', sa.BigInteger(), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('open', 'closed')", name=op.f('ck_inspection_ticket_status')),
    sa.ForeignKeyConstraint(['closed_run_id'], ['inspection_run.id'], name=op.f('fk_inspection_ticket_closed_run_id_inspection_run'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['last_seen_run_id'], ['inspection_run.id'], name=op.f('fk_inspection_ticket_last_seen_run_id_inspection_run'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['opened_run_id'], ['inspection_run.id'], name=op.f('fk_inspection_ticket_opened_run_id_inspection_run'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_ticket'))
    )
    op.create_index('uq_inspection_ticket_open', 'inspection_ticket', ['finding_key'], unique=True, postgresql_where=sa.text("status = 'open'"))


def downgrade() -> None:
    op.drop_index('uq_inspection_ticket_open', table_name='inspection_ticket', postgresql_where=sa.text("status = 'open'"))
    op.drop_table('inspection_ticket')
    op.drop_table('inspection_finding')
    op.drop_index('ix_alert_delivery_due', table_name='alert_delivery', postgresql_where=sa.text("status = 'pending'"))
    op.drop_table('alert_delivery')
    op.drop_table('outbox')
    op.drop_table('inspection_run')
    op.drop_index('ix_inbox_processed_at', table_name='inbox')
    op.drop_table('inbox')
    op.drop_table('dead_letter_count')
    op.drop_table('channel_bucket')
    op.drop_index('ix_alert_first_seen_at', table_name='alert')
    op.drop_table('alert')
