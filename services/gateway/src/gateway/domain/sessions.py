"""Rules of a person's sign-in session (plain Python): who the ID token names, which roles their groups give, when a
session ends, and the session's CSRF token.

- **Roles** come from the token's ``groups`` claim through ``GATEWAY_OIDC_GROUP_ROLES`` (group → roles), computed at
  each sign-in: a changed mapping or group membership takes effect at the person's next sign-in. Groups may arrive as
  ``platform-editors`` or as a path ``/platform-editors`` (Keycloak's "full group path"); both match the mapping.
- **Name**: ``preferred_username`` (else ``email``, else ``sub``) is the acting user everywhere a key's name is used
  (audit log, identity tokens to the services, hence ``created_by``, approvals, publish records).
- **Expiry**: idle (no request for ``idle_s``) and absolute (``max_age_s`` after sign-in), whichever comes first.
- **Session id**: 32 random bytes (URL-safe base64) in the cookie; only its SHA-256 is stored. The CSRF token is
  derived from the id (``sha256("csrf:" + id)``), so it is bound to the session and reveals nothing of the id.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from common.roles import Role, parse_roles

SESSION_ID_BYTES = 32
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")
MAX_NAME = 128
#: names the services reserve for their own identity (``common.identity``): never a person's
_RESERVED_PREFIX = "service:"


class SignInRefused(ValueError):
    """The provider's answer names no usable person or grants no role; the message says why (no secrets in it)."""


@dataclass(frozen=True)
class Person:
    subject: str
    name: str
    display_name: str | None
    email: str | None


def person_of(claims: Mapping[str, Any]) -> Person:
    """The person an ID token's (verified) claims name."""
    subject = str(claims.get("sub") or "").strip()
    if not subject:
        raise SignInRefused("the ID token names no subject")
    email = _text(claims.get("email"))
    name = _text(claims.get("preferred_username")) or email or subject
    if len(name) > MAX_NAME or name.lower().startswith(_RESERVED_PREFIX) or any(c.isspace() for c in name):
        raise SignInRefused("the ID token's user name is not usable here (at most 128 characters, no spaces)")
    return Person(subject=subject, name=name, display_name=_text(claims.get("name")), email=email)


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def parse_group_roles(raw: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """Validate ``GATEWAY_OIDC_GROUP_ROLES``: each group's roles are known roles (``ValueError`` names the bad one).
    The machine-only ``lineage`` scope is not given to people."""
    out: dict[str, tuple[str, ...]] = {}
    for group, roles in raw.items():
        key = group.strip().strip("/")
        if not key:
            raise ValueError("a group name of the group→role mapping is empty")
        try:
            parsed = parse_roles(roles)
        except ValueError as exc:
            raise ValueError(f"group {group!r}: {exc}") from None
        if Role.LINEAGE in parsed:
            raise ValueError(f"group {group!r}: the 'lineage' scope is for API keys of machines, not people")
        out[key] = tuple(r.value for r in parsed)
    return out


def roles_for_groups(groups: Any, mapping: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """The roles the ``groups`` claim gives (in the platform's role order, each once); groups not in the mapping give
    nothing. A claim that is not a list of strings gives nothing."""
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list):
        return ()
    held: set[str] = set()
    for group in groups:
        if isinstance(group, str):
            held.update(mapping.get(group.strip().strip("/"), ()))
    return tuple(r.value for r in Role if r.value in held)


def require_roles(roles: Iterable[str]) -> tuple[str, ...]:
    out = tuple(roles)
    if not out:
        raise SignInRefused("none of your groups gives a role on this platform; ask an administrator for access")
    return out


@dataclass(frozen=True)
class SessionTimes:
    idle: timedelta
    max_age: timedelta

    def ends_at(self, *, created_at: datetime, last_seen_at: datetime) -> datetime:
        return min(created_at + self.max_age, last_seen_at + self.idle)

    def ended(self, *, created_at: datetime, last_seen_at: datetime, now: datetime) -> bool:
        return now >= self.ends_at(created_at=created_at, last_seen_at=last_seen_at)


def new_session_id() -> str:
    return secrets.token_urlsafe(SESSION_ID_BYTES)


def plausible_session_id(value: str) -> bool:
    return bool(_SESSION_ID.match(value))


def hash_session_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def csrf_token_of(session_id: str) -> str:
    return hashlib.sha256(b"csrf:" + session_id.encode()).hexdigest()


def csrf_matches(expected: str, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(expected.encode(), sent.strip().encode())
