"""The pure rules of history sync, without I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from common.dolphin.models import WorkflowExecutionStatus
from history_sync.domain.alerts import FAILURE, RATE, STREAK, AlertPolicy, OpenIncidents, evaluate
from history_sync.domain.executions import (
    Changes,
    Execution,
    detect_changes,
    is_finished,
    latest_executions,
    trigger_of,
)
from history_sync.domain.logs import count_lines
from history_sync.domain.tracking import (
    OFFLINE,
    ONLINE,
    PublishFacts,
    apply_publish,
    cycle_of,
    is_synced,
    next_cycle_start,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def ex(iid: int, state: str = "SUCCESS", **kw: object) -> Execution:
    """Instance ``iid`` started ``iid`` minutes after T0 (a higher id is newer)."""
    start = T0 + timedelta(minutes=iid)
    finished = state in ("SUCCESS", "FAILURE", "STOP", "PAUSE")
    values: dict[str, object] = {
        "start_time": start,
        "end_time": start + timedelta(seconds=30) if finished else None,
        "duration": "30s" if finished else "5s",
        "run_times": 1,
    }
    values.update(kw)
    return Execution(iid, state, **values)  # type: ignore[arg-type]


def newest_first(*states: str, first_id: int = 100) -> list[Execution]:
    """Executions newest first: the first state is the newest."""
    n = len(states)
    return [ex(first_id + n - i, s) for i, s in enumerate(states)]


# --- cache: exactly the last 10 in DS order ---------------------------------------------------------------------


def test_keeps_exactly_the_last_10_in_ds_order() -> None:
    page = [ex(i) for i in range(12, 0, -1)]  # DS order: newest first
    kept = latest_executions(page)
    assert [e.instance_id for e in kept] == list(range(12, 2, -1))


def test_keeps_fewer_when_ds_has_fewer_and_drops_duplicates() -> None:
    kept = latest_executions([ex(3), ex(2), ex(3), ex(1)])
    assert [e.instance_id for e in kept] == [3, 2, 1]


def test_a_new_instance_pushes_out_the_oldest() -> None:
    before = latest_executions([ex(i) for i in range(10, 0, -1)])
    after = latest_executions([ex(i) for i in range(11, 0, -1)])
    assert [e.instance_id for e in after] == list(range(11, 1, -1))
    changes = detect_changes(before, after)
    assert changes.changed
    assert changes.added == (11,)
    assert changes.removed == (1,)


# --- change detection ----------------------------------------------------------------------------------------------


def test_same_page_is_no_change() -> None:
    page = [ex(3), ex(2, "RUNNING_EXECUTION"), ex(1)]
    assert not detect_changes(page, list(page)).changed


def test_running_duration_growth_is_not_a_change_but_a_state_change_is() -> None:
    old = [ex(2, "RUNNING_EXECUTION", duration="5s"), ex(1)]
    grown = [ex(2, "RUNNING_EXECUTION", duration="9s"), ex(1)]
    assert not detect_changes(old, grown).changed
    done = [ex(2, "SUCCESS"), ex(1)]
    changes = detect_changes(old, done)
    assert changes.changed
    assert changes.updated == (2,)
    assert changes.added == ()


def test_order_and_version_mapping_are_changes() -> None:
    assert detect_changes([ex(2), ex(1)], [ex(1), ex(2)]).changed
    assert detect_changes([ex(1)], [ex(1, platform_version_id=7)]).changed


def test_empty_cache_to_first_page_is_a_change() -> None:
    changes = detect_changes([], [ex(1)])
    assert changes.changed
    assert changes.added == (1,)


def test_trigger_type() -> None:
    assert trigger_of("SCHEDULER", T0) == "scheduled"
    assert trigger_of("START_PROCESS", None) == "manual"
    assert trigger_of("COMPLEMENT_DATA", T0) == "manual"
    assert trigger_of(None, T0) == "scheduled"
    assert trigger_of(None, None) == "manual"


# --- failure alerts --------------------------------------------------------------------------------------------

POLICY = AlertPolicy(streak_threshold=3, rate_window=10, rate_threshold=0.5, rate_min_finished=5)


def _sync(old: list[Execution], new: list[Execution], incidents: OpenIncidents, policy: AlertPolicy = POLICY):  # type: ignore[no-untyped-def]
    changes = detect_changes(old, new)
    return evaluate(7, new, changes.new_failures, incidents, policy)


def test_a_failure_raises_one_event_per_instance() -> None:
    running = [ex(2, "RUNNING_EXECUTION"), ex(1)]
    failed = [ex(2, "FAILURE"), ex(1)]
    first = _sync(running, failed, OpenIncidents())
    assert [(a.rule, a.instance_id) for a in first.alerts] == [(FAILURE, 2)]
    assert first.alerts[0].incident_key == "wf7:failure:2:1"
    again = _sync(failed, list(failed), first.incidents)
    assert again.alerts == ()


def test_a_newly_seen_failure_and_a_failed_rerun_alert() -> None:
    seen = _sync([ex(1)], [ex(3, "FAILURE"), ex(2, "FAILURE"), ex(1)], OpenIncidents())
    assert [a.instance_id for a in seen.alerts if a.rule == FAILURE] == [2, 3]  # oldest first
    rerun = _sync([ex(3, "FAILURE")], [ex(3, "FAILURE", run_times=2)], OpenIncidents())
    assert [a.incident_key for a in rerun.alerts] == ["wf7:failure:3:2"]


def test_streak_raises_one_alert_per_incident_and_success_ends_it() -> None:
    policy = AlertPolicy(streak_threshold=3, rate_window=10, rate_threshold=0.99, rate_min_finished=5)
    history: list[Execution] = [ex(1)]
    incidents = OpenIncidents()
    streak_alerts = []
    for iid in range(2, 7):  # five failures in a row
        new = [ex(iid, "FAILURE"), *history][:10]
        d = _sync(history, new, incidents, policy)
        streak_alerts += [a for a in d.alerts if a.rule == STREAK]
        history, incidents = new, d.incidents
    assert len(streak_alerts) == 1
    alert = streak_alerts[0]
    assert alert.incident_key == "wf7:streak:2"
    assert alert.details["streak"] == 3
    assert incidents.streak == "wf7:streak:2"
    # a stopped run is neutral; a success recovers
    stopped = [ex(7, "STOP"), *history][:10]
    d = _sync(history, stopped, incidents, policy)
    assert d.incidents.streak == "wf7:streak:2"
    recovered = [ex(8, "SUCCESS"), *stopped][:10]
    d = _sync(stopped, recovered, d.incidents, policy)
    assert d.closed == ((STREAK, "wf7:streak:2"),)
    assert d.incidents.streak is None
    # a new streak is a new incident with a new key
    history, incidents = recovered, d.incidents
    keys = []
    for iid in range(9, 12):
        new = [ex(iid, "FAILURE"), *history][:10]
        d = _sync(history, new, incidents, policy)
        keys += [a.incident_key for a in d.alerts if a.rule == STREAK]
        history, incidents = new, d.incidents
    assert keys == ["wf7:streak:9"]


def test_running_instances_do_not_break_a_streak() -> None:
    new = [ex(5, "RUNNING_EXECUTION"), ex(4, "FAILURE"), ex(3, "FAILURE"), ex(2, "FAILURE"), ex(1)]
    d = _sync(new[1:], new, OpenIncidents(streak="wf7:streak:2"))
    assert d.incidents.streak == "wf7:streak:2"
    assert d.closed == ()


def test_rate_rule_opens_once_above_threshold_and_closes_when_back_under() -> None:
    policy = AlertPolicy(streak_threshold=10, rate_window=10, rate_threshold=0.5, rate_min_finished=5)
    # 5 of 10 finished failed: exactly the threshold, not above
    at_threshold = newest_first(*(["FAILURE", "SUCCESS"] * 5))
    d = _sync([], at_threshold, OpenIncidents(), policy)
    assert [a for a in d.alerts if a.rule == RATE] == []
    # one more failure pushes out a success: 6/10
    above = [ex(200, "FAILURE"), *at_threshold][:10]
    d = _sync(at_threshold, above, d.incidents, policy)
    rate_alerts = [a for a in d.alerts if a.rule == RATE]
    assert len(rate_alerts) == 1
    assert rate_alerts[0].details == {"failures": 6, "window": 10, "rate": 0.6, "threshold": 0.5}
    key = d.incidents.rate
    assert key == "wf7:rate:200"
    # still above: silent
    still = [ex(201, "FAILURE"), *above][:10]
    d = _sync(above, still, d.incidents, policy)
    assert [a for a in d.alerts if a.rule == RATE] == []
    assert d.incidents.rate == key
    # successes bring it back to <= 50%
    history, incidents = still, d.incidents
    for iid in range(202, 206):
        new = [ex(iid, "SUCCESS"), *history][:10]
        d = _sync(history, new, incidents, policy)
        history, incidents = new, d.incidents
        if incidents.rate is None:
            break
    assert incidents.rate is None
    assert (RATE, key) in d.closed


def test_rate_needs_enough_finished_instances() -> None:
    d = _sync([], newest_first("FAILURE", "FAILURE", "RUNNING_EXECUTION"), OpenIncidents())
    assert [a for a in d.alerts if a.rule == RATE] == []


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="streak_threshold"):
        AlertPolicy(streak_threshold=11)
    with pytest.raises(ValueError, match="rate_min_finished"):
        AlertPolicy(rate_window=3, rate_min_finished=4)


# --- tracking ------------------------------------------------------------------------------------------------------


def facts(op: str, at: datetime, state: str | None = None, code: int | None = 11) -> PublishFacts:
    return PublishFacts(1, op, code, 22 if code else None, state, at)


def test_publish_lifecycle_online_offline() -> None:
    t = apply_publish(None, facts("deploy", T0))
    assert t is not None
    assert (t.release_state, t.online_since, t.offline_at) == (OFFLINE, None, None)
    t = apply_publish(t, facts("online", T0 + timedelta(hours=1)))
    assert t is not None
    assert (t.release_state, t.online_since) == (ONLINE, T0 + timedelta(hours=1))
    assert is_synced(t, T0 + timedelta(days=30), timedelta(days=7))
    t = apply_publish(t, facts("offline", T0 + timedelta(hours=2), "OFFLINE"))
    assert t is not None
    assert t.offline_at == T0 + timedelta(hours=2)
    assert is_synced(t, T0 + timedelta(days=6), timedelta(days=7))
    assert not is_synced(t, T0 + timedelta(days=8), timedelta(days=7))
    # an older event arriving late does not change the state
    late = apply_publish(t, facts("online", T0 + timedelta(minutes=90)))
    assert late is not None
    assert late.release_state == OFFLINE


def test_publish_without_code_tracks_nothing() -> None:
    assert apply_publish(None, facts("deploy", T0, code=None)) is None


def test_cycles() -> None:
    at = datetime.fromtimestamp(1000 * 300 + 17, tz=UTC)
    assert cycle_of(at, 300) == 1000
    assert next_cycle_start(at, 300) == datetime.fromtimestamp(1001 * 300, tz=UTC)


def test_count_lines_counts_newlines_not_crlf() -> None:
    assert count_lines("") == 0
    assert count_lines("a\nb\n") == 2
    assert count_lines("a\nb") == 2
    assert count_lines("a\r\nb\r\nc\n") == 3


def test_is_finished_follows_the_ds_status_enum() -> None:
    for status in WorkflowExecutionStatus:
        assert is_finished(status.value) is status.is_finished
    assert not is_finished("NOT_A_DS_STATE")


def test_equal_lists_take_the_fast_path_and_any_field_difference_is_seen() -> None:
    cached = newest_first("SUCCESS", "FAILURE", "RUNNING_EXECUTION")
    assert detect_changes(cached, list(cached)) == Changes(False)
    # a running instance's growing duration: fields differ, signatures do not (the full comparison decides)
    grown = [cached[0], cached[1], replace(cached[2], duration="9s")]
    assert not detect_changes(cached, grown).changed
    moved_host = [cached[0], replace(cached[1], host="elsewhere:5678"), cached[2]]
    changes = detect_changes(cached, moved_host)
    assert changes.changed
    assert changes.updated == (cached[1].instance_id,)
    assert changes.new_failures == ()  # the failure was already known
    assert detect_changes(cached, cached[:2]).removed == (cached[2].instance_id,)
