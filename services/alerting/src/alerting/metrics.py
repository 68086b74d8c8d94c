"""Prometheus metrics of the alerting service."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ALERTS = Counter("alerting_incidents_total", "New alert incidents", ["kind"])
DELIVERIES = Counter(
    "alerting_messages_total",
    "IM messages attempted, by channel and outcome (ok | retry | fail)",
    ["channel", "outcome"],
)
DEAD_LETTERS = Counter("alerting_dead_letters_seen_total", "Dead letters seen on <topic>.dlq", ["topic"])
FINDINGS = Gauge("alerting_inspection_findings", "Findings of the latest inspection run", ["kind"])
TICKETS = Counter("alerting_tickets_total", "Inspection ticket records opened and closed", ["action"])
