"""Tables of the ``alerting`` schema (declared without a schema: the engine's search_path selects it)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from common.db import new_metadata
from common.guard import add_audit_table
from common.outbox import add_outbox_tables

metadata = new_metadata()
outbox_table, inbox_table = add_outbox_tables(metadata)
#: mutating internal calls with their verified actor (``common.guard``)
audit_log = add_audit_table(metadata)

#: one row per incident (the dedupe key of every input)
alert = Table(
    "alert",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("incident_key", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("workflow_id", BigInteger),
    #: ``Alert.to_json()`` of the first occurrence (what the message shows)
    Column("payload", JSONB, nullable=False),
    Column("occurrences", Integer, nullable=False, server_default=text("1")),
    Column("first_seen_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_seen_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_alert_first_seen_at", "first_seen_at"),
)

#: one row per (incident, channel): the message that was (or will be) sent there; never a second one
alert_delivery = Table(
    "alert_delivery",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("alert_id", BigInteger, ForeignKey("alert.id", ondelete="CASCADE"), nullable=False),
    Column("channel", Text, nullable=False),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("lease_until", DateTime(timezone=True)),
    Column("last_error", Text),
    #: the message that carried it (several deliveries share one id when they went out as a digest)
    Column("message_id", Text),
    Column("sent_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("alert_id", "channel"),
    CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
    Index("ix_alert_delivery_due", "channel", "next_attempt_at", postgresql_where=text("status = 'pending'")),
)

#: token bucket per channel, shared by every replica (row-locked while a message is claimed)
channel_bucket = Table(
    "channel_bucket",
    metadata,
    Column("channel", Text, primary_key=True),
    Column("tokens", Double, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

#: dead letters seen per original topic
dead_letter_count = Table(
    "dead_letter_count",
    metadata,
    Column("topic", Text, primary_key=True),
    Column("total", BigInteger, nullable=False, server_default=text("0")),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("last_reason", Text),
)

inspection_run = Table(
    "inspection_run",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("trigger", Text, nullable=False),
    #: the daily slot a scheduled run belongs to (unique: one replica runs it)
    Column("scheduled_for", Date, unique=True),
    Column("status", Text, nullable=False, server_default=text("'running'")),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    #: per check: "ok" or the reason it could not run
    Column("checks", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("summary", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    CheckConstraint("trigger IN ('schedule', 'api', 'cli')", name="trigger"),
    CheckConstraint("status IN ('running', 'completed', 'failed')", name="status"),
)

inspection_finding = Table(
    "inspection_finding",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("run_id", BigInteger, ForeignKey("inspection_run.id", ondelete="CASCADE"), nullable=False),
    Column("finding_key", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("subject", JSONB, nullable=False),
    Column("workflow_id", BigInteger),
    Column("ticket_record_id", BigInteger),
    UniqueConstraint("run_id", "finding_key"),
)

#: our record of a ticket: open while the finding keeps being found; at most one open per finding key
inspection_ticket = Table(
    "inspection_ticket",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("finding_key", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("status", Text, nullable=False, server_default=text("'open'")),
    Column("summary", Text, nullable=False),
    Column("subject", JSONB, nullable=False),
    #: the id the ticket system gave it (NULL until it answered; retried on the next run)
    Column("ticket_id", Text),
    Column("ticket_error", Text),
    Column("ticket_attempts", Integer, nullable=False, server_default=text("0")),
    Column("lease_until", DateTime(timezone=True)),
    Column("opened_run_id", BigInteger, ForeignKey("inspection_run.id", ondelete="SET NULL")),
    Column("last_seen_run_id", BigInteger, ForeignKey("inspection_run.id", ondelete="SET NULL")),
    Column("closed_run_id", BigInteger, ForeignKey("inspection_run.id", ondelete="SET NULL")),
    Column("opened_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("closed_at", DateTime(timezone=True)),
    CheckConstraint("status IN ('open', 'closed')", name="status"),
    Index("uq_inspection_ticket_open", "finding_key", unique=True, postgresql_where=text("status = 'open'")),
)
