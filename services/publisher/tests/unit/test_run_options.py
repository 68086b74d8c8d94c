"""Run now's options as DS takes them (issue 21 item 4) and the run fingerprint's stability."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from common.dolphin import RunMode, WarningType
from publisher.runs import RunParams, fingerprint
from publisher.service.batch import BatchRunRequest, ds_schedule_time, run_options


def test_run_options_as_ds_takes_them() -> None:
    """DS reads ``scheduleTime`` only for COMPLEMENT_DATA: a schedule time is a backfill of that one date."""
    assert run_options(None, "NONE") == {"warning_type": WarningType.NONE}
    when = ds_schedule_time(datetime(2025, 3, 4, 5, 6, 7, 890_000, tzinfo=timezone(timedelta(hours=8))))
    assert when == datetime(2025, 3, 3, 21, 6, 7, tzinfo=UTC)
    assert run_options(when, "ALL") == {
        "warning_type": WarningType.ALL,
        "exec_type": "COMPLEMENT_DATA",
        "schedule_time": '{"complementScheduleDateList": "2025-03-03 21:06:07"}',
        "run_mode": RunMode.RUN_MODE_SERIAL,
    }
    assert ds_schedule_time(datetime(2025, 1, 1, 12)) == datetime(2025, 1, 1, 12, tzinfo=UTC)  # no zone: UTC


def test_a_run_fingerprint_is_unchanged_by_the_later_options_at_their_defaults() -> None:
    # the fingerprint of a run asked for before schedule_time/warning_type existed (keys are kept for a week)
    before = hashlib.sha256(
        json.dumps(
            {"workflow_id": 7, "start_params": {}, "worker_group": None, "failure_strategy": "END", "dry_run": False},
            sort_keys=True,
        ).encode()
    ).hexdigest()
    assert fingerprint(7, RunParams()) == before
    assert fingerprint(7, RunParams(warning_type="ALL")) != before
    assert fingerprint(7, RunParams(schedule_time=datetime(2025, 1, 1, tzinfo=UTC))) != before


def test_a_batch_takes_a_schedule_time_or_a_backfill_not_both() -> None:
    with pytest.raises(ValidationError, match="schedule_time and backfill"):
        BatchRunRequest.model_validate(
            {
                "workflow_ids": [1],
                "schedule_time": "2025-01-01T00:00:00Z",
                "backfill": {"start": "2025-01-01T00:00:00Z", "end": "2025-01-02T00:00:00Z"},
            }
        )
