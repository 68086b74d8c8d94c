"""Who a request acts as (``Principal``), and the process's short-lived memory of keys and sessions found valid
(``VerifiedKeys``; see ``gateway.auth`` and ``gateway.sessions``)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Principal:
    """An API key's user (``key_id``, ``key_prefix``), or a person signed in through OIDC (``session_id``, their
    session's ``csrf_token``, name and e-mail from the ID token)."""

    key_id: int | None
    name: str
    roles: tuple[str, ...]
    key_prefix: str | None
    #: the only scopes the key may use (``gateway.domain.scopes``); ``None``: no limit but its roles
    scopes: frozenset[str] | None = None
    #: when the key stops working; ``None``: never
    expires_at: datetime | None = None
    session_id: int | None = None
    csrf_token: str | None = None
    display_name: str | None = None
    email: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


class VerifiedKeys:
    """Keys found valid in the database, by SHA-256 digest, each trusted for ``ttl_s`` (monotonic clock) after its
    look-up, never past the key's ``expires_at`` (``wall`` clock); at most ``max_keys`` (the least recently verified
    go first). ``ttl_s == 0`` disables it."""

    def __init__(
        self,
        ttl_s: float,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = _now,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_keys = max_keys
        self.clock = clock
        self.wall = wall
        self._keys: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def get(self, digest: str) -> Principal | None:
        entry = self._keys.get(digest)
        if entry is None:
            return None
        principal, expires = entry
        if self.clock() >= expires:
            del self._keys[digest]
            return None
        return principal

    def put(self, digest: str, principal: Principal, *, ttl_s: float | None = None) -> None:
        """Remember ``principal`` for ``ttl_s`` (at most the cache's TTL; default: the cache's TTL)."""
        ttl = self.ttl_s if ttl_s is None else min(ttl_s, self.ttl_s)
        if ttl <= 0:
            return
        trust_s = ttl
        if principal.expires_at is not None:
            trust_s = min(trust_s, (principal.expires_at - self.wall()).total_seconds())
            if trust_s <= 0:
                return
        self._keys[digest] = (principal, self.clock() + trust_s)
        self._keys.move_to_end(digest)
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)

    def forget(self, key_id: int) -> None:
        """Drop a key at once (revoked in this process)."""
        for digest in [d for d, (p, _) in self._keys.items() if p.key_id == key_id]:
            del self._keys[digest]

    def forget_digest(self, digest: str) -> None:
        """Drop one entry at once (a session signed out in this process)."""
        self._keys.pop(digest, None)
