"""Alerting service: platform alerts to IM webhooks and the daily consistency inspection."""
