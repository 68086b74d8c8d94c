from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerting.domain.ratelimit import Bucket, decide, digest_size, refill

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_refill_is_capped_at_burst() -> None:
    b = refill(Bucket(0.0, T0), T0 + timedelta(seconds=30), rate_per_s=1 / 60, burst=5)
    assert b.tokens == pytest.approx(0.5)
    assert refill(Bucket(4.0, T0), T0 + timedelta(hours=1), rate_per_s=1, burst=5).tokens == 5.0


def test_clock_going_back_never_adds_tokens() -> None:
    b = refill(Bucket(1.0, T0), T0 - timedelta(seconds=100), rate_per_s=1, burst=5)
    assert b.tokens == 1.0
    assert b.updated_at == T0


@pytest.mark.parametrize(
    ("backlog", "tokens", "expected"),
    [(0, 5, 0), (1, 5, 1), (5, 5, 1), (6, 5, 2), (7, 5, 3), (30, 5, 20), (3, 1, 3), (3, 1.9, 3), (3, 2.0, 2)],
)
def test_digest_size(backlog: int, tokens: float, expected: int) -> None:
    assert digest_size(backlog, tokens, digest_max=20) == expected


def test_a_burst_never_sends_more_messages_than_tokens_and_covers_the_backlog() -> None:
    bucket, backlog, messages, carried = Bucket(5.0, T0), 12, 0, 0
    while True:
        d = decide(bucket, T0, backlog=backlog, rate_per_s=1 / 60, burst=5, digest_max=20)
        if d.size == 0:
            break
        bucket, backlog, messages, carried = d.bucket, backlog - d.size, messages + 1, carried + d.size
    assert messages == 5
    assert carried == 12
    assert backlog == 0


def test_no_token_means_wait_for_the_next_one() -> None:
    d = decide(Bucket(0.25, T0), T0, backlog=3, rate_per_s=0.5, burst=5, digest_max=20)
    assert d.size == 0
    assert d.wait_s == pytest.approx(1.5)


def test_nothing_to_send_takes_no_token() -> None:
    d = decide(Bucket(2.0, T0), T0, backlog=0, rate_per_s=1, burst=5, digest_max=20)
    assert (d.size, d.bucket.tokens) == (0, 2.0)
