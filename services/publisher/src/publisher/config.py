"""Settings of the publisher (env prefix ``PUBLISHER_``).

DolphinScheduler is reached over REST (access token) and the Python gateway (py4j auth token). Tokens are
``SecretStr`` and come either from the environment (``PUBLISHER_DS_TOKEN``, ``PUBLISHER_DS_GATEWAY_AUTH_TOKEN``) or
from a file (``PUBLISHER_DS_TOKEN_FILE``, ``PUBLISHER_DS_GATEWAY_AUTH_TOKEN_FILE``, e.g. a mounted Kubernetes
secret). Only a *reference* to where a token came from (``env:NAME`` / ``file:/path``) is ever stored or shown.
"""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from common.dolphin.gateway import DEFAULT_GATEWAY_AUTH_TOKEN
from common.dolphin.links import DEFAULT_DS_VERSION, DsLinks, ds_version_of
from common.migrations import migrations_of
from common.settings import ServiceSettings

ENV_PREFIX = "PUBLISHER_"

MIGRATIONS = migrations_of("publisher")


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", env_file=None, populate_by_name=True)

    service_name: str = "publisher"
    #: the service's PostgreSQL schema (tests give each test its own)
    db_schema: str = Field(default="publisher", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    #: name of the DS environment this process publishes to (row of ``workflow_integration_config``)
    environment: str = Field(default="default", min_length=1, max_length=64)

    ds_rest_url: str = "http://127.0.0.1:12345/dolphinscheduler"
    #: base of "open in DolphinScheduler" links; defaults to ``<ds_rest_url>/ui``
    ds_ui_url: str | None = None
    #: the DolphinScheduler version published to (``3.3``, ``3.4``, or a full ``3.4.2``): its UI routes
    ds_version: str = DEFAULT_DS_VERSION
    ds_project_name: str = Field(default="data-platform", min_length=1)
    ds_user: str = Field(default="admin", min_length=1)
    ds_tenant: str = Field(default="default", min_length=1)
    ds_worker_group: str = Field(default="default", min_length=1)
    ds_gateway_host: str = "127.0.0.1"
    ds_gateway_port: int = Field(default=25333, ge=1, le=65535)
    ds_token: SecretStr | None = None
    ds_token_file: Path | None = None
    ds_gateway_auth_token: SecretStr | None = None
    ds_gateway_auth_token_file: Path | None = None
    ds_rest_timeout_s: float = Field(default=30.0, gt=0)
    ds_gateway_timeout_s: float = Field(default=60.0, gt=0)

    #: publish workers of this process (different workflows publish in parallel; one workflow is always serial)
    publish_workers: int = Field(default=4, ge=1, le=64)
    #: who claims publish records: the same after a restart of this process (the host name: a Kubernetes pod keeps
    #: its name when its container restarts), so a restarted process runs its own interrupted records again at once;
    #: it must differ between the processes running at the same time
    instance_id: str = Field(default_factory=socket.gethostname, min_length=1, max_length=128)
    #: a record ``running`` this long without a heartbeat (sent every third of it) is taken to be abandoned by a dead
    #: process and re-run by another one
    publish_lease_s: float = Field(default=30.0, gt=0)
    #: how often idle workers look for pending or abandoned records (they are also woken on each new request)
    publish_poll_interval_s: float = Field(default=1.0, gt=0)
    #: a run now whose outcome DS left unknown (a timeout) is looked for among DS's instances this long; not found
    #: by then, it did not start
    run_reconcile_window_s: float = Field(default=120.0, gt=0)
    #: how long a run's idempotency key is remembered
    run_retention_s: float = Field(default=7 * 86400.0, gt=0)
    #: a DS call of a publish that fails for a reason that may pass (5xx, timeout, gateway unreachable, DS busy) is
    #: tried this many times in all, with exponential backoff from ``ds_retry_initial_s`` to ``ds_retry_max_s``
    ds_retry_attempts: int = Field(default=4, ge=1, le=20)
    ds_retry_initial_s: float = Field(default=1.0, gt=0)
    ds_retry_max_s: float = Field(default=10.0, gt=0)
    #: the final write of a publish (record, DS state, event) is retried in place for this long while the database
    #: is unavailable; after that the record is run again once its lease has expired
    finish_retry_s: float = Field(default=120.0, gt=0)
    #: how often the reconciler looks for workflows that DS does not hold in their intended state
    reconcile_interval_s: float = Field(default=2.0, gt=0)
    #: backoff between the reconciler's attempts at one workflow: from the first to the longest wait (a fault that
    #: clears is noticed within the longest wait)
    reconcile_backoff_initial_s: float = Field(default=5.0, gt=0)
    reconcile_backoff_max_s: float = Field(default=30.0, gt=0)
    #: how often the republish dispatcher looks for a running republish run and a free slot (it is also woken when
    #: a republish record finishes)
    republish_interval_s: float = Field(default=1.0, gt=0)

    @field_validator("ds_version")
    @classmethod
    def _ds_version(cls, v: str) -> str:
        return ds_version_of(v)

    @model_validator(mode="after")
    def _tokens(self) -> Settings:
        if self.ds_token is None and self.ds_token_file is None:
            raise ValueError(f"set {ENV_PREFIX}DS_TOKEN or {ENV_PREFIX}DS_TOKEN_FILE (DolphinScheduler access token)")
        if self.ds_gateway_auth_token is None and self.ds_gateway_auth_token_file is None:
            raise ValueError(
                f"set {ENV_PREFIX}DS_GATEWAY_AUTH_TOKEN or {ENV_PREFIX}DS_GATEWAY_AUTH_TOKEN_FILE: DolphinScheduler's "
                "python-gateway.auth-token. Give DS a token of its own: its documented default is public, and the "
                "publisher does not fall back to it"
            )
        if self.ds_gateway_auth_token is not None and (
            self.ds_gateway_auth_token.get_secret_value() == DEFAULT_GATEWAY_AUTH_TOKEN.get_secret_value()
        ):
            raise ValueError(
                f"{ENV_PREFIX}DS_GATEWAY_AUTH_TOKEN is DolphinScheduler's public default token: set "
                "python-gateway.auth-token in DS to a secret of its own and give the publisher that"
            )
        for path in (self.ds_token_file, self.ds_gateway_auth_token_file):
            if path is not None and not path.is_file():
                raise ValueError(f"token file {path} does not exist")
        return self

    # -- tokens ------------------------------------------------------------------------------------------------

    def rest_token(self) -> SecretStr:
        if self.ds_token_file is not None:
            return SecretStr(self.ds_token_file.read_text().strip())
        assert self.ds_token is not None  # checked by the validator
        return self.ds_token

    def rest_token_ref(self) -> str:
        if self.ds_token_file is not None:
            return f"file:{self.ds_token_file}"
        return f"env:{ENV_PREFIX}DS_TOKEN"

    def gateway_token(self) -> SecretStr:
        if self.ds_gateway_auth_token_file is not None:
            token = SecretStr(self.ds_gateway_auth_token_file.read_text().strip())
            if token.get_secret_value() == DEFAULT_GATEWAY_AUTH_TOKEN.get_secret_value():
                raise ValueError(f"{self.ds_gateway_auth_token_file} holds DolphinScheduler's public default token")
            return token
        assert self.ds_gateway_auth_token is not None  # checked by the validator
        return self.ds_gateway_auth_token

    def gateway_token_ref(self) -> str:
        if self.ds_gateway_auth_token_file is not None:
            return f"file:{self.ds_gateway_auth_token_file}"
        return f"env:{ENV_PREFIX}DS_GATEWAY_AUTH_TOKEN"

    @property
    def ui_url(self) -> str:
        return (self.ds_ui_url or f"{self.ds_rest_url.rstrip('/')}/ui").rstrip("/")

    @property
    def ds_links(self) -> DsLinks:
        """The "open in DolphinScheduler" link builder of ``ui_url`` and ``ds_version``."""
        return DsLinks(self.ui_url, self.ds_version)
