"""Tables of the gateway, declared without a schema (the engine's search_path selects ``gateway``)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY

from common.db import new_metadata

metadata = new_metadata()

ROLE_NAMES = ("viewer", "editor", "approver", "publisher", "admin", "lineage")
SCOPE_NAMES = ("workflows:read", "workflows:write", "publish", "lineage:write", "admin")

api_key = Table(
    "api_key",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    #: the user the key acts as (named in the identity tokens sent to the services, ``actor`` in the audit log)
    Column("name", String(128), nullable=False),
    #: the first 8 characters of the secret, for display only
    Column("key_prefix", String(8), nullable=False),
    #: SHA-256 (hex) of the secret; the secret itself is never stored
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("roles", ARRAY(Text), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("created_by", String(128), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    #: refused from then on; ``NULL``: never expires
    Column("expires_at", DateTime(timezone=True), nullable=True),
    #: the only scopes the key may use (``gateway.domain.scopes``); ``NULL``: no limit but its roles
    Column("scopes", ARRAY(Text), nullable=True),
    CheckConstraint("cardinality(roles) > 0", name="roles_not_empty"),
    CheckConstraint(
        "roles <@ ARRAY[" + ", ".join(f"'{r}'" for r in ROLE_NAMES) + "]::text[]",
        name="roles_known",
    ),
    CheckConstraint("key_hash ~ '^[0-9a-f]{64}$'", name="key_hash_sha256"),
    CheckConstraint(
        "scopes IS NULL OR (cardinality(scopes) > 0 AND scopes <@ ARRAY["
        + ", ".join(f"'{s}'" for s in SCOPE_NAMES)
        + "]::text[])",
        name="scopes_known",
    ),
)

Index("ix_api_key_name", api_key.c.name)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    #: the key's user name; ``NULL`` when the call was not authenticated
    Column("actor", String(128), nullable=True),
    Column("method", String(8), nullable=False),
    Column("path", Text, nullable=False),
    #: e.g. ``workflows/12``
    Column("resource", Text, nullable=True),
    Column("status_code", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("request_id", String(128), nullable=False),
    #: a short description (the problem's detail on failure); never a request body
    Column("detail", Text, nullable=True),
    CheckConstraint("outcome IN ('success', 'failure')", name="outcome_known"),
)

Index("ix_audit_log_at", audit_log.c.at.desc(), audit_log.c.id.desc())
Index("ix_audit_log_actor_at", audit_log.c.actor, audit_log.c.at.desc())
Index("ix_audit_log_path", audit_log.c.path, postgresql_ops={"path": "text_pattern_ops"})

#: a person signed in through OIDC (``gateway.sessions``): one row per browser session, deleted at sign-out or expiry
web_session = Table(
    "web_session",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    #: SHA-256 (hex) of the cookie's session id; the id itself is never stored
    Column("id_hash", String(64), nullable=False, unique=True),
    #: the provider's ``sub``, the acting user name (``preferred_username``), and the person's name and e-mail
    Column("subject", Text, nullable=False),
    Column("name", String(128), nullable=False),
    Column("display_name", Text, nullable=True),
    Column("email", Text, nullable=True),
    #: from the ID token's groups at sign-in (``GATEWAY_OIDC_GROUP_ROLES``)
    Column("roles", ARRAY(Text), nullable=False),
    #: the provider's tokens (refresh, ID, access), encrypted (Fernet, key derived from the client secret)
    Column("tokens", LargeBinary, nullable=False),
    #: when the access token expires: the next request after it refreshes the tokens; ``NULL``: no refresh
    Column("access_expires_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_seen_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("cardinality(roles) > 0", name="roles_not_empty"),
    CheckConstraint("id_hash ~ '^[0-9a-f]{64}$'", name="id_hash_sha256"),
)

Index("ix_web_session_subject", web_session.c.subject)

#: a sign-in begun at ``/auth/login`` and not yet finished at ``/auth/callback``: Authlib's state (state, nonce,
#: PKCE verifier, redirect URI), found by the hash of the browser's sign-in cookie, used once
sign_in_attempt = Table(
    "sign_in_attempt",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("data", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

Index("ix_sign_in_attempt_expires_at", sign_in_attempt.c.expires_at)

__all__ = ["api_key", "audit_log", "metadata", "sign_in_attempt", "web_session"]
