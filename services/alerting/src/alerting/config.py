"""Settings of the alerting service (env prefix ``ALERTING_``).

IM channels come as JSON in ``ALERTING_CHANNELS``, one object per channel, for example::

    [{"kind": "dingtalk", "url_ref": "env:DINGTALK_WEBHOOK", "secret_ref": "env:DINGTALK_SECRET"},
     {"kind": "slack", "name": "slack-ops", "url_ref": "file:/var/run/secrets/slack/url", "rate_per_minute": 30}]

A webhook URL carries the robot's token, so it is a secret: give it as ``url`` (kept as ``SecretStr``) or, better,
as ``url_ref`` (``env:NAME`` or ``file:/path``); signing secrets likewise as ``secret`` or ``secret_ref``. Only the
references are ever shown (``GET /internal/channels``); the values are registered with the log redaction.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from common.migrations import migrations_of
from common.settings import ServiceSettings

ENV_PREFIX = "ALERTING_"

ChannelKind = Literal["dingtalk", "feishu", "wecom", "slack", "webhook"]

_REF = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:/.+)$")

MIGRATIONS = migrations_of("alerting")


def resolve_ref(ref: str) -> SecretStr:
    """The value behind ``env:NAME`` or ``file:/path`` (never logged; the reference may be)."""
    kind, _, where = ref.partition(":")
    if kind == "env":
        value = os.environ.get(where)
        if value is None:
            raise ValueError(f"{ref}: environment variable {where} is not set")
        return SecretStr(value.strip())
    path = Path(where)
    if not path.is_file():
        raise ValueError(f"{ref}: file does not exist")
    return SecretStr(path.read_text().strip())


class ChannelConfig(BaseModel):
    """One IM destination."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ChannelKind
    #: unique name of the channel (deliveries are recorded per name); defaults to ``kind``
    name: str = Field(default="", pattern=r"^$|^[a-z0-9][a-z0-9_.-]{0,62}$")
    url: SecretStr | None = None
    url_ref: str | None = Field(default=None, pattern=_REF.pattern)
    #: DingTalk / Feishu "signature" security setting, or the HMAC key of the generic webhook
    secret: SecretStr | None = None
    secret_ref: str | None = Field(default=None, pattern=_REF.pattern)
    #: Feishu/Lark message type: a card with buttons, or plain text
    feishu_msg_type: Literal["interactive", "text"] = "interactive"
    #: token bucket: refill rate and burst (DingTalk and WeCom robots accept 20 messages per minute)
    rate_per_minute: float = Field(default=20.0, gt=0)
    burst: int = Field(default=5, ge=1, le=1000)
    #: at most this many queued alerts are summarised in one message when the channel is behind
    digest_max: int = Field(default=20, ge=1, le=100)
    #: per-channel override of the service language
    language: Literal["zh", "en"] | None = None

    @model_validator(mode="after")
    def _one_url(self) -> ChannelConfig:
        if (self.url is None) == (self.url_ref is None):
            raise ValueError(f"channel {self.label}: set exactly one of url and url_ref")
        if self.secret is not None and self.secret_ref is not None:
            raise ValueError(f"channel {self.label}: set at most one of secret and secret_ref")
        return self

    @property
    def label(self) -> str:
        return self.name or self.kind

    def resolved_url(self) -> SecretStr:
        if self.url is not None:
            return self.url
        assert self.url_ref is not None
        return resolve_ref(self.url_ref)

    def resolved_secret(self) -> SecretStr | None:
        if self.secret is not None:
            return self.secret
        return resolve_ref(self.secret_ref) if self.secret_ref is not None else None


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", env_file=None, populate_by_name=True)

    service_name: str = "alerting"
    db_schema: str = Field(default="alerting", pattern=r"^[a-z_][a-z0-9_]{0,62}$")

    # --- messages ----------------------------------------------------------------------------------------------
    channels: list[ChannelConfig] = Field(default_factory=list)
    language: Literal["zh", "en"] = "en"
    #: portal base URL; workflow links are ``<portal_url>/workflows/{id}``
    portal_url: str = "http://127.0.0.1:8080"
    #: DS UI base URL; links are ``<ds_ui_url>/projects/{project_code}/workflow/definitions/{workflow_code}``
    ds_ui_url: str = "http://127.0.0.1:12345/dolphinscheduler/ui"

    # --- delivery ----------------------------------------------------------------------------------------------
    delivery_enabled: bool = True
    delivery_poll_interval_s: float = Field(default=1.0, gt=0)
    delivery_timeout_s: float = Field(default=10.0, gt=0)
    delivery_max_attempts: int = Field(default=6, ge=1, le=50)
    retry_base_s: float = Field(default=5.0, gt=0)
    retry_max_s: float = Field(default=600.0, gt=0)

    # --- inputs ------------------------------------------------------------------------------------------------
    #: one dead-letter incident per topic per window
    dlq_window_s: int = Field(default=3600, ge=60)
    #: watch ``<topic>.dlq`` of every platform topic
    watch_dead_letters: bool = True
    history_url: str = "http://127.0.0.1:8103"
    #: how often history-sync is asked for stale workflows (0 disables the alert)
    history_poll_interval_s: float = Field(default=300.0, ge=0)
    #: a workflow is stale when its last successful sync is older than this many sync cycles
    stale_cycles: int = Field(default=3, ge=1, le=1000)

    # --- inspection ----------------------------------------------------------------------------------------------
    definition_url: str = "http://127.0.0.1:8101"
    publisher_url: str = "http://127.0.0.1:8102"
    upstream_timeout_s: float = Field(default=15.0, gt=0)
    upstream_concurrency: int = Field(default=8, ge=1, le=64)
    inspection_enabled: bool = True
    #: local time of the daily inspection (``HH:MM``) in ``inspection_timezone``
    inspection_time: str = Field(default="03:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    inspection_timezone: str = "UTC"
    #: generic REST ticket webhook: findings are POSTed there; empty = tickets are only recorded here
    ticket_url: SecretStr | None = None
    ticket_token: SecretStr | None = None
    #: field of the ticket system's JSON answer that holds the ticket id
    ticket_id_field: str = Field(default="id", min_length=1)

    @field_validator("channels")
    @classmethod
    def _unique_names(cls, v: list[ChannelConfig]) -> list[ChannelConfig]:
        labels = [c.label for c in v]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ValueError(f"channel names must be unique (give each a name): {', '.join(dupes)}")
        return v

    @field_validator("inspection_timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @model_validator(mode="after")
    def _secrets_resolve(self) -> Settings:
        for c in self.channels:
            c.resolved_url()  # fails at start when a reference points nowhere
            c.resolved_secret()
        return self

    @property
    def inspection_clock(self) -> tuple[int, int]:
        hh, mm = self.inspection_time.split(":")
        return int(hh), int(mm)
