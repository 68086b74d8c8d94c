"""API key material: a random secret shown once, stored only as its SHA-256 with an 8-character display prefix.

Keys are 256-bit random, so a plain SHA-256 (no salt, no slow hash) is enough and allows a unique-index look-up.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

PREFIX_LEN = 8
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
