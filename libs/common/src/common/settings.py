"""Settings base shared by every service.

Each service subclasses ``ServiceSettings`` with its own ``env_prefix`` (``DEFINITION_``, ``PUBLISHER_`` …).
``KAFKA_BOOTSTRAP_SERVERS`` is read without a prefix (one cluster serves every service); the database URL is per
service (``<PREFIX>DATABASE_URL``) because each service logs in with its own role.
Secrets are ``SecretStr``: they never show in ``repr``, logs or errors. Bad configuration fails at start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.kafka_access import KafkaAccess


class ServiceSettings(BaseSettings):
    """Common settings. Subclasses set ``model_config = SettingsConfigDict(env_prefix=...)``."""

    model_config = SettingsConfigDict(extra="ignore", env_file=None, populate_by_name=True)

    service_name: str = "service"
    #: the service's PostgreSQL schema (``search_path``; its migrations keep their version table there)
    db_schema: str = Field(default="service", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    #: SQLAlchemy URL with the asyncpg driver, logging in as the service's own role.
    database_url: SecretStr = SecretStr("postgresql+asyncpg://localhost:15432/platform")
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:19092", validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers")
    )
    #: the principal this service authenticates as (SASL/SCRAM); the broker's ACLs allow it only its topics
    #: (``common.kafka_acls``). Shared names without a prefix: one process, one principal.
    kafka_sasl_username: str | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_SASL_USERNAME", "kafka_sasl_username")
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_SASL_PASSWORD", "kafka_sasl_password")
    )
    #: a file holding the password instead (a mounted Secret)
    kafka_sasl_password_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_SASL_PASSWORD_FILE", "kafka_sasl_password_file")
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        default="SCRAM-SHA-512", validation_alias=AliasChoices("KAFKA_SASL_MECHANISM", "kafka_sasl_mechanism")
    )
    #: CA bundle of the brokers' certificates: SASL over TLS
    kafka_ssl_cafile: Path | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_SSL_CAFILE", "kafka_ssl_cafile")
    )
    #: prepended to every topic name (isolates environments sharing one cluster, and tests)
    topic_prefix: str = Field(default="", validation_alias=AliasChoices("KAFKA_TOPIC_PREFIX", "topic_prefix"))
    #: create the topics this service produces and consumes (and their ``.dlq``) at start if missing; off where
    #: platform-provision creates them (a service principal under ACLs may not)
    ensure_topics: bool = True
    #: partitions of the topics it creates: empty, each topic's own count (``common.events.Topics.PARTITIONS``)
    topic_partitions: int | None = Field(default=None, ge=1)
    #: run the Alembic migrations at start (the ``migrate`` command does the same explicitly)
    auto_migrate: bool = False
    #: the Alembic scripts; empty: the service's own (``services/<svc>/migrations``, ``config.MIGRATIONS``)
    migrations_path: Path | None = None
    #: consumer group of the service's subscribers; empty: the service name (the topic prefix is prepended:
    #: ``group_id``)
    consumer_group: str = ""
    #: the client id its consumers and producers give Kafka (in the consumer groups' member lists); empty: the service
    #: name. One per replica (the pod name) tells the replicas apart in ``kafka-consumer-groups.sh --describe``
    kafka_client_id: str = Field(default="", max_length=200)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    #: OTLP/HTTP endpoint of a collector, e.g. http://otel-collector:4318; empty disables export.
    otel_exporter_otlp_endpoint: str = ""
    #: Zipkin v2 JSON endpoint, e.g. http://127.0.0.1:9411/api/v2/spans (the trace backend `./platform up` starts:
    #: Zipkin's server takes no OTLP); empty disables export. Both endpoints may be set.
    otel_exporter_zipkin_endpoint: str = ""
    #: share of new traces recorded: requests that change something, consumed events, background runs
    otel_sampling_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    #: share of new traces recorded among requests that only read (GET/HEAD/OPTIONS): the bulk of the traffic (the
    #: portal's lists and pages), each alike; recording every one adds ~0.4 ms of CPU per service to a list page and
    #: half again to its p99 under load (BENCHMARKS.md, telemetry overhead)
    otel_read_sampling_ratio: float = Field(default=0.1, ge=0.0, le=1.0)
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=0, le=65535)
    #: fallback poll of the outbox relay while idle (it wakes on each commit's pg_notify)
    outbox_poll_interval_s: float = Field(default=1.0, gt=0)
    outbox_batch_size: int = Field(default=500, ge=1, le=10_000)
    #: how often the outbox backlog and the age of its oldest event are measured (apart from the relay)
    outbox_monitor_interval_s: float = Field(default=5.0, gt=0)
    #: how often the consumer lag of the service's consumer groups is measured
    kafka_lag_interval_s: float = Field(default=15.0, gt=0)
    consumer_max_attempts: int = Field(default=5, ge=1)
    #: this service's Ed25519 private key (PEM): signs its calls to other services (``common.identity``)
    identity_key_file: Path | None = None
    #: the public keys every service trusts (``<service>.pem``, ``<service>.<label>.pem`` during a rotation); one
    #: directory for all services, hence no prefix
    identity_trusted_keys_dir: Path | None = Field(
        default=None, validation_alias=AliasChoices("IDENTITY_TRUSTED_KEYS_DIR", "identity_trusted_keys_dir")
    )
    #: how long a call token lives (its signer reuses it for the first half)
    identity_token_ttl_s: float = Field(default=60.0, ge=5, le=600)
    #: requests with a larger body are answered 413 before it is read
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def group_id(self) -> str:
        """The Kafka consumer group of every subscriber of this service (the one place that names it)."""
        return self.topic(self.consumer_group or self.service_name)

    @property
    def kafka(self) -> KafkaAccess:
        """How this service reaches Kafka (servers and principal)."""
        password = self.kafka_sasl_password
        if password is None and self.kafka_sasl_password_file is not None:
            password = SecretStr(self.kafka_sasl_password_file.read_text(encoding="utf-8").strip())
        return KafkaAccess(
            bootstrap_servers=self.kafka_bootstrap_servers,
            username=self.kafka_sasl_username,
            password=password,
            mechanism=self.kafka_sasl_mechanism,
            ssl_cafile=self.kafka_ssl_cafile,
        )

    @field_validator("database_url")
    @classmethod
    def _asyncpg_driver(cls, v: SecretStr) -> SecretStr:
        raw = v.get_secret_value()
        if raw.startswith("postgresql://") or raw.startswith("postgres://"):
            raw = "postgresql+asyncpg://" + raw.split("://", 1)[1]
        if not raw.startswith("postgresql+asyncpg://"):
            raise ValueError("database_url must be a postgresql URL (postgresql+asyncpg://user:pw@host:port/db)")
        return SecretStr(raw)
