"""API key material: a random secret shown once, stored only as its SHA-256 with an 8-character display prefix.

Keys are 256-bit random, so a plain SHA-256 (no salt, no slow hash) is enough and allows a unique-index look-up.

A key expires (``expires_at``): new keys live ``DEFAULT_LIFETIME`` unless given a date or a duration; a key that never
expires is only made on purpose (an admin's explicit choice, or the bootstrap admin key of the configuration).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

PREFIX_LEN = 8
#: the lifetime of a new key when none is given
DEFAULT_LIFETIME = timedelta(days=90)
#: the longest lifetime given as a duration or a date (beyond it: "never", on purpose)
MAX_LIFETIME = timedelta(days=3660)
#: the longest bearer value we even hash (anything longer is refused before touching the database)
MAX_KEY_LEN = 256


@dataclass(frozen=True)
class NewKey:
    secret: str
    prefix: str
    digest: str


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_prefix(secret: str) -> str:
    return secret[:PREFIX_LEN]


def new_key() -> NewKey:
    secret = secrets.token_urlsafe(32)
    return NewKey(secret=secret, prefix=key_prefix(secret), digest=hash_key(secret))


def from_secret(secret: str) -> NewKey:
    """Key material for a given secret (the bootstrap admin token)."""
    return NewKey(secret=secret, prefix=key_prefix(secret), digest=hash_key(secret))


def plausible(secret: str) -> bool:
    """Cheap shape check before a database look-up."""
    return 0 < len(secret) <= MAX_KEY_LEN and secret.isprintable() and " " not in secret


_DURATION = re.compile(r"^(\d{1,5})([dhw])$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def expiry_of(value: str, now: datetime) -> datetime | None:
    """The expiry a person typed (the CLI's ``--expires``): ``never``; a duration ``12h``, ``30d``, ``8w``; a date
    ``2027-03-01`` (its start, UTC); or an ISO date-time with its offset. ``ValueError`` says what is wrong."""
    text = value.strip().lower()
    if text == "never":
        return None
    match = _DURATION.match(text)
    if match:
        at = now + int(match.group(1)) * _UNITS[match.group(2)]
    else:
        try:
            at = (
                datetime.combine(date.fromisoformat(text), time(), UTC)
                if len(text) == 10
                else datetime.fromisoformat(value.strip())
            )
        except ValueError:
            raise ValueError(
                f"expiry {value!r} is not 'never', a duration (12h, 30d, 8w), a date (2027-03-01) or a date-time "
                "with its offset (2027-03-01T12:00:00+00:00)"
            ) from None
        if at.tzinfo is None:
            raise ValueError(f"expiry {value!r} has no UTC offset (add +00:00 or Z)")
    return check_expiry(at, now)


def check_expiry(at: datetime, now: datetime) -> datetime:
    """``at`` if it is a possible expiry of a new key: in the future, within ``MAX_LIFETIME``."""
    if at <= now:
        raise ValueError(f"expiry {at.isoformat(timespec='seconds')} is not in the future")
    if at - now > MAX_LIFETIME:
        raise ValueError(f"expiry {at.isoformat(timespec='seconds')} is more than {MAX_LIFETIME.days} days away")
    return at


def expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at <= now
