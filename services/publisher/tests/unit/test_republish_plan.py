"""Bulk republish, the plain parts: planning an item, the shared rate limiter (GCRA) and the progress figures."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from publisher.domain.republish import Progress, burst_of, plan_item, take
from publisher.republish_cli import rate

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_plan_item_republishes_a_changed_hash_skips_the_same_and_fails_what_cannot_be_converted() -> None:
    changed = plan_item(7, "old", "new", None)
    assert (changed.status, changed.reason, changed.planned_hash) == ("pending", None, "new")
    same = plan_item(7, "h", "h", None)
    assert same.status == "skipped"
    assert same.reason == "unchanged: same content hash"
    broken = plan_item(7, "h", None, "UpstreamNotDeployed: workflow 3 is not deployed")
    assert broken.status == "failed"
    assert broken.reason == "cannot convert the deployed version: UpstreamNotDeployed: workflow 3 is not deployed"


def test_rate_limiter_allows_a_burst_of_one_seconds_worth_then_the_rate() -> None:
    grant = take(T0, None, rate_per_s=4.0, want=10)
    assert grant.count == 4  # burst: one second's worth
    assert grant.next_slot_at == T0 + timedelta(seconds=1)
    again = take(T0, grant.next_slot_at, rate_per_s=4.0, want=10)
    assert again.count == 0
    assert again.wait_s == pytest.approx(0.25)  # the next slot frees a quarter second later
    later = take(T0 + timedelta(seconds=0.25), grant.next_slot_at, rate_per_s=4.0, want=10)
    assert later.count == 1
    assert later.next_slot_at == T0 + timedelta(seconds=1.25)


def test_rate_limiter_never_grants_more_than_wanted_and_a_long_idle_spell_gives_no_more_than_the_burst() -> None:
    grant = take(T0, None, rate_per_s=10.0, want=3)
    assert grant.count == 3
    assert grant.next_slot_at == T0 + timedelta(seconds=0.3)
    idle = take(T0 + timedelta(hours=1), grant.next_slot_at, rate_per_s=10.0, want=100)
    assert idle.count == 10


def test_rate_limiter_holds_the_rate_over_many_rounds() -> None:
    """Whoever takes and however often: over 10 s at 3/s no more than 3 × 10 + the burst start."""
    tat = None
    granted = 0
    for step in range(1000):  # a round every 10 ms
        g = take(T0 + timedelta(milliseconds=10 * step), tat, rate_per_s=3.0, want=50)
        granted += g.count
        tat = g.next_slot_at
    assert 30 <= granted <= 30 + burst_of(3.0)


def test_rate_limiter_below_one_per_second_has_a_burst_of_one() -> None:
    assert burst_of(0.5) == 1
    first = take(T0, None, rate_per_s=0.5, want=5)
    assert first.count == 1
    second = take(T0, first.next_slot_at, rate_per_s=0.5, want=5)
    assert second.count == 0
    assert second.wait_s == pytest.approx(2.0)
    with pytest.raises(ValueError, match="positive"):
        take(T0, None, rate_per_s=0, want=1)


def _progress(**kw: object) -> Progress:
    base: dict[str, object] = dict(
        total=100, pending=50, queued=10, republished=30, skipped=8, failed=2, cancelled=0,
        finished_by_publish=32, elapsed_s=16.0, rate_limit_per_s=10.0,
    )  # fmt: skip
    base.update(kw)
    return Progress(**base)  # type: ignore[arg-type]


def test_progress_rate_and_eta_from_the_publishes_finished_so_far() -> None:
    p = _progress()
    assert p.remaining == 60
    assert p.rate_per_s == pytest.approx(2.0)
    assert p.eta_s == pytest.approx(30.0)


def test_eta_before_the_first_publish_finished_uses_the_rate_limit_and_never_beats_it() -> None:
    assert _progress(finished_by_publish=0, elapsed_s=None).eta_s == pytest.approx(6.0)
    assert _progress(finished_by_publish=0, elapsed_s=3.0).rate_per_s is None
    # faster so far than the limit allows from now on: the limit bounds the ETA
    assert _progress(finished_by_publish=320, elapsed_s=16.0).eta_s == pytest.approx(6.0)
    assert _progress(pending=0, queued=0).eta_s == 0.0


def test_the_command_reads_a_rate_as_publishes_per_second_and_refuses_anything_else() -> None:
    assert (rate("5"), rate("5/s"), rate(" 0.5 / s ")) == (5.0, 5.0, 0.5)
    for bad in ("fast", "0", "-1/s", "5/min"):
        with pytest.raises(argparse.ArgumentTypeError, match="is not a rate"):
            rate(bad)
