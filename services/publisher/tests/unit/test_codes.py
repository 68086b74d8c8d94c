"""``assign_codes``: stable DS task codes, fresh ones only for new tasks."""

from __future__ import annotations

import pytest

from publisher.domain import MAX_CODES_PER_CALL, assign_codes, code_batches, codes_needed


def test_first_publish_takes_fresh_codes_in_task_id_order() -> None:
    mapping, new = assign_codes([30, 10, 20], {}, iter([7001, 7002, 7003, 7004]))
    assert mapping == new == {10: 7001, 20: 7002, 30: 7003}


def test_existing_codes_are_reused_and_only_new_tasks_consume_fresh_ones() -> None:
    existing = {10: 7001, 20: 7002, 30: 7003}
    mapping, new = assign_codes([10, 30, 40, 50], existing, [8001, 8002])
    assert mapping == {10: 7001, 30: 7003, 40: 8001, 50: 8002}
    assert new == {40: 8001, 50: 8002}


def test_nothing_new_needs_no_fresh_codes() -> None:
    mapping, new = assign_codes([10, 20], {10: 1, 20: 2, 30: 3}, [])
    assert (mapping, new) == ({10: 1, 20: 2}, {})


def test_codes_needed_counts_distinct_new_tasks() -> None:
    assert codes_needed([1, 2, 2, 3], {1: 5}) == 2
    assert codes_needed([1], {1: 5}) == 0


def test_a_deleted_tasks_code_is_never_handed_out_again() -> None:
    # task 20 was deleted but its code 7002 is still in ``existing``; DS would not hand it out, but be safe
    with pytest.raises(ValueError, match="already used"):
        assign_codes([10, 40], {10: 7001, 20: 7002}, [7002])


@pytest.mark.parametrize(
    ("fresh", "message"),
    [([9001], "2 fresh task codes are needed, only 1"), ([9001, 9001], "already used"), ([0, 9002], "not positive")],
)
def test_bad_fresh_codes(fresh: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        assign_codes([1, 2], {}, fresh)


def test_codes_come_in_calls_of_at_most_100() -> None:
    assert MAX_CODES_PER_CALL == 100  # DS 3.4.2 refuses genTaskCodeList(101) with "data 101 not valid"
    assert code_batches(0) == []
    assert code_batches(1) == [1]
    assert code_batches(100) == [100]
    assert code_batches(101) == [100, 1]
    assert code_batches(2000) == [100] * 20
    assert code_batches(2345) == [100] * 23 + [45]
    with pytest.raises(ValueError, match="-1"):
        code_batches(-1)
