from __future__ import annotations

from datetime import UTC, datetime

from alerting.domain import inspection as I
from alerting.domain.inspection import FindingKind, OpenTicket, plan_tickets


def test_dangling_relations_of_one_workflow() -> None:
    found = I.dangling_relations(
        5,
        task_ids=[1, 2, 3, 4],
        edges=[(1, 2), (2, 9)],
        owners={1: 5, 2: 5, 3: 8},  # 4 does not exist, 3 belongs to workflow 8, 9 is not listed
    )
    assert [(f.key, f.subject["reason"]) for f in found] == [
        ("dangling-relation:5:3", "owner_mismatch"),
        ("dangling-relation:5:4", "task_missing"),
        ("dangling-relation:5:9", "edge_endpoint_missing"),
    ]
    assert found[0].subject["owner_workflow_id"] == 8
    assert I.dangling_relations(5, [1, 2], [(1, 2)], {1: 5, 2: 5}) == []


def test_keys_are_stable() -> None:
    assert I.orphan_task(3, "a").key == I.orphan_task(3, "renamed").key == "orphan-task:3"
    assert I.drift(4, "drifted", ["x"], {}).key == I.drift(4, "missing_in_ds", [], {}).key == "drift:4"
    assert I.stale_sync(4, None, 10, None).key == "stale-sync:4"


ALL = set(FindingKind)


def test_new_findings_open_tickets_and_known_ones_do_not() -> None:
    f1, f2 = I.orphan_task(1, "a"), I.orphan_task(2, "b")
    plan = plan_tickets([f1, f2, f1], [OpenTicket(10, f1.key, FindingKind.ORPHAN_TASK)], completed_kinds=ALL)
    assert [f.key for f in plan.to_open] == [f2.key]
    assert [(f.key, t.id) for f, t in plan.still_open] == [(f1.key, 10)]
    assert plan.to_close == ()


def test_disappeared_findings_close_their_tickets() -> None:
    t = OpenTicket(10, "orphan-task:1", FindingKind.ORPHAN_TASK)
    plan = plan_tickets([], [t], completed_kinds=ALL)
    assert plan.to_close == (t,)
    assert plan.to_open == ()


def test_a_check_that_did_not_run_closes_nothing() -> None:
    t = OpenTicket(10, "stale-sync:1", FindingKind.STALE_SYNC)
    plan = plan_tickets([], [t], completed_kinds=ALL - {FindingKind.STALE_SYNC})
    assert plan.to_close == ()


def test_inconclusive_subjects_keep_their_tickets() -> None:
    a = OpenTicket(10, "drift:1", FindingKind.DRIFT)
    b = OpenTicket(11, "drift:2", FindingKind.DRIFT)
    plan = plan_tickets([], [a, b], completed_kinds=ALL, inconclusive_keys={"drift:1"})
    assert plan.to_close == (b,)


def test_reappearing_finding_after_close_opens_again() -> None:
    f = I.orphan_task(1, "a")
    assert [x.key for x in plan_tickets([f], [], completed_kinds=ALL).to_open] == [f.key]


def test_daily_slots() -> None:
    now = datetime(2025, 3, 10, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    assert I.latest_slot(now, (3, 0), "Asia/Shanghai") == datetime(2025, 3, 9, 19, 0, tzinfo=UTC)
    assert I.next_slot(now, (3, 0), "Asia/Shanghai") == datetime(2025, 3, 10, 19, 0, tzinfo=UTC)
    assert I.latest_slot(datetime(2025, 3, 10, 3, 0, tzinfo=UTC), (3, 0), "UTC") == datetime(
        2025, 3, 10, 3, 0, tzinfo=UTC
    )
    assert I.latest_slot(datetime(2025, 3, 10, 2, 59, tzinfo=UTC), (3, 0), "UTC") == datetime(
        2025, 3, 9, 3, 0, tzinfo=UTC
    )
