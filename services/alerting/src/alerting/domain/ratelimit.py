"""Per-channel rate limit: a token bucket, and what to send when the channel is behind.

Every message (single alert or digest) costs one token; the bucket holds at most ``burst`` tokens and refills at
``rate_per_s``. Alerts that find no token stay queued (persisted as pending deliveries) and go out when tokens come
back. When more alerts wait than there are tokens, the oldest ones are summarised in one digest message, sized so
that the tokens at hand cover the whole backlog (``digest_size``): under a storm the channel still gets every
alert, in at most ``burst`` messages now and one message per refill afterwards, never more than the IM allows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Bucket:
    tokens: float
    updated_at: datetime


def refill(b: Bucket, now: datetime, *, rate_per_s: float, burst: int) -> Bucket:
    elapsed = max(0.0, (now - b.updated_at).total_seconds())
    return Bucket(min(float(burst), b.tokens + elapsed * rate_per_s), max(now, b.updated_at))


@dataclass(frozen=True)
class Decision:
    bucket: Bucket
    #: alerts to put into the next message (0: nothing to send now)
    size: int
    #: when nothing can be sent: seconds until the next token
    wait_s: float


def digest_size(backlog: int, tokens: float, digest_max: int) -> int:
    """How many queued alerts the next message carries: one while the tokens cover the backlog, otherwise enough
    of the oldest that the remaining tokens send the rest one by one (at most ``digest_max``)."""
    if backlog <= 0:
        return 0
    return min(digest_max, max(1, backlog - math.floor(tokens) + 1))


def decide(b: Bucket, now: datetime, *, backlog: int, rate_per_s: float, burst: int, digest_max: int) -> Decision:
    """Refill, then take one token for one message if there is something to send and a token to pay with."""
    b = refill(b, now, rate_per_s=rate_per_s, burst=burst)
    if backlog <= 0:
        return Decision(b, 0, 0.0)
    if b.tokens < 1.0:
        return Decision(b, 0, (1.0 - b.tokens) / rate_per_s)
    size = digest_size(backlog, b.tokens, digest_max)
    return Decision(Bucket(b.tokens - 1.0, b.updated_at), size, 0.0)
