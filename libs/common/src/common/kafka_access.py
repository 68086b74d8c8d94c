"""How a process reaches Kafka: the bootstrap servers and the principal it authenticates as.

Every Kafka client of the platform (the FastStream broker, the outbox relay's producer, the lag monitor, the admin
calls of provisioning) is built from one :class:`KafkaAccess`. Services authenticate with SASL/SCRAM-SHA-512 as their
own principal (``KAFKA_SASL_USERNAME`` and ``KAFKA_SASL_PASSWORD`` or ``KAFKA_SASL_PASSWORD_FILE``), over TLS when
``KAFKA_SSL_CAFILE`` (or ``KAFKA_SECURITY_PROTOCOL=SASL_SSL``) says so; the broker's ACLs (``common.kafka_acls``)
then allow each principal only its topics. Without a user name a client connects unauthenticated (PLAINTEXT), which
only a broker without authentication accepts.

A plain ``host:port`` string where a ``KafkaAccess`` is expected (:meth:`KafkaAccess.of`) means those servers with the
credentials of this process's environment (the same ``KAFKA_SASL_*`` variables the services read).
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, cast, get_args

from pydantic import SecretStr

SecurityProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


@dataclass(frozen=True)
class KafkaAccess:
    bootstrap_servers: str
    username: str | None = None
    password: SecretStr | None = None
    mechanism: Mechanism = "SCRAM-SHA-512"
    #: CA bundle of the brokers' TLS certificates; set: SASL_SSL
    ssl_cafile: Path | None = None
    #: None: SASL_SSL with a CA file, SASL_PLAINTEXT with a user name, PLAINTEXT otherwise
    protocol: SecurityProtocol | None = None

    @property
    def security_protocol(self) -> SecurityProtocol:
        if self.protocol is not None:
            return self.protocol
        if self.username is None:
            return "PLAINTEXT"
        return "SASL_SSL" if self.ssl_cafile is not None else "SASL_PLAINTEXT"

    @property
    def authenticated(self) -> bool:
        return self.security_protocol != "PLAINTEXT"

    def as_user(self, username: str, password: SecretStr | str) -> KafkaAccess:
        """The same servers as another principal."""
        secret = password if isinstance(password, SecretStr) else SecretStr(password)
        return replace(self, username=username, password=secret)

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.security_protocol != "SASL_SSL":
            return None
        return ssl.create_default_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None)

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments of any aiokafka client (producer, consumer, admin, client)."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers}
        protocol = self.security_protocol
        if protocol == "PLAINTEXT":
            return options
        if self.username is None or self.password is None:
            raise ValueError(f"Kafka {protocol} needs a user name and a password (KAFKA_SASL_USERNAME / _PASSWORD)")
        options.update(
            security_protocol=protocol,
            sasl_mechanism=self.mechanism,
            sasl_plain_username=self.username,
            sasl_plain_password=self.password.get_secret_value(),
        )
        context = self.ssl_context()
        if context is not None:
            options["ssl_context"] = context
        return options

    def broker_security(self) -> Any:
        """The same for FastStream's ``KafkaBroker(security=…)`` (``None``: unauthenticated)."""
        if not self.authenticated:
            return None
        from faststream.security import SASLPlaintext, SASLScram256, SASLScram512

        assert self.username is not None
        assert self.password is not None
        kind = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}[self.mechanism]
        context = self.ssl_context()
        return kind(self.username, self.password.get_secret_value(), ssl_context=context, use_ssl=context is not None)

    @classmethod
    def of(cls, kafka: KafkaAccess | str) -> KafkaAccess:
        """``kafka`` itself, or for ``host:port`` those servers with this process's environment's credentials."""
        return kafka if isinstance(kafka, KafkaAccess) else cls.from_env(kafka)

    @classmethod
    def from_env(cls, bootstrap_servers: str, environ: Any = None) -> KafkaAccess:
        env = os.environ if environ is None else environ
        password = env.get("KAFKA_SASL_PASSWORD") or None
        password_file = env.get("KAFKA_SASL_PASSWORD_FILE") or None
        if password is None and password_file is not None:
            password = Path(password_file).read_text(encoding="utf-8").strip()
        cafile = env.get("KAFKA_SSL_CAFILE") or None
        protocol = env.get("KAFKA_SECURITY_PROTOCOL") or None
        mechanism = env.get("KAFKA_SASL_MECHANISM") or "SCRAM-SHA-512"
        if protocol not in (None, *get_args(SecurityProtocol)) or mechanism not in get_args(Mechanism):
            raise ValueError(f"unknown KAFKA_SECURITY_PROTOCOL {protocol!r} or KAFKA_SASL_MECHANISM {mechanism!r}")
        return cls(
            bootstrap_servers=bootstrap_servers,
            username=env.get("KAFKA_SASL_USERNAME") or None,
            password=SecretStr(password) if password else None,
            mechanism=cast(Mechanism, mechanism),
            ssl_cafile=Path(cafile) if cafile else None,
            protocol=cast(SecurityProtocol | None, protocol),
        )


def client_options(kafka: KafkaAccess | str) -> dict[str, Any]:
    """``KafkaAccess.of(kafka).client_options()``: the keyword arguments of an aiokafka client."""
    return KafkaAccess.of(kafka).client_options()
