from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from pydantic import ValidationError

from alerting.config import Settings
from alerting.domain import alerts as A
from common.events.models import (
    FailureRule,
    PublishCompleted,
    PublishOperation,
    PublishOutcome,
    WorkflowExecutionFailed,
)

AT = datetime(2025, 6, 1, 8, 30, tzinfo=UTC)


def _publish(record_id: int) -> PublishCompleted:
    return PublishCompleted(
        request_id=uuid4(), record_id=record_id, workflow_id=7, version_id=3, operation=PublishOperation.ONLINE,
        outcome=PublishOutcome.FAILED, operator="bob", completed_at=AT, error_message="x" * 2000,
    )  # fmt: skip


def test_incident_keys() -> None:
    assert (
        A.publish_failed(_publish(5)).incident_key == A.publish_failed(_publish(5)).incident_key == "publish-failed:5"
    )
    assert A.publish_failed(_publish(6)).incident_key != "publish-failed:5"
    assert len(A.publish_failed(_publish(5)).facts["error_message"]) == A.MAX_TEXT
    ev = WorkflowExecutionFailed(
        workflow_id=7, engine_workflow_code=1, project_code=2, rule=FailureRule.STREAK, incident_key="7:streak:100",
        occurred_at=AT,
    )  # fmt: skip
    assert A.execution_failed(ev).incident_key == "execution:7:streak:100"
    assert A.execution_failed(ev).kind is A.AlertKind.EXECUTION_STREAK


def test_dead_letters_share_an_incident_per_topic_and_window() -> None:
    def key(topic: str, minute: int, hour: int = 8) -> str:
        at = datetime(2025, 6, 1, hour, minute, tzinfo=UTC)
        return A.dead_letters(topic, at=at, window_s=3600, reason=None, consumer=None, error_type=None).incident_key

    assert key("a", 1) == key("a", 59) == "dlq:a:20250601T0800"
    assert key("a", 1) != key("b", 1)
    assert key("a", 1) != key("a", 1, hour=9)


def test_history_stale_incident_changes_only_when_the_last_sync_moves() -> None:
    def key(last: datetime | None) -> str:
        return A.history_stale(
            workflow_id=3, project_code=1, workflow_code=2, last_synced_at=last, age_s=1, threshold_s=1,
            last_error=None, now=datetime.now(UTC),
        ).incident_key  # fmt: skip

    assert key(AT) == key(AT)
    assert key(AT) != key(datetime(2025, 6, 1, 9, tzinfo=UTC))
    assert key(None) == "history-stale:3:never"


def test_alert_json_round_trip() -> None:
    a = A.publish_failed(_publish(5))
    assert A.Alert.from_json(json.loads(json.dumps(a.to_json()))) == a


def test_channels_from_env_with_references(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret_file = tmp_path / "slack-url"
    secret_file.write_text("https://hooks.slack.com/services/T/B/XYZ\n")
    monkeypatch.setenv("DT_URL", "https://oapi.dingtalk.com/robot/send?access_token=abc")
    monkeypatch.setenv("DT_SECRET", "SECxyz")
    monkeypatch.setenv(
        "ALERTING_CHANNELS",
        json.dumps([
            {"kind": "dingtalk", "url_ref": "env:DT_URL", "secret_ref": "env:DT_SECRET"},
            {"kind": "slack", "url_ref": f"file:{secret_file}", "rate_per_minute": 60},
            {"kind": "webhook", "name": "ops-hook", "url": "https://hooks.example/a"},
        ]),
    )  # fmt: skip
    s = Settings()
    assert [c.label for c in s.channels] == ["dingtalk", "slack", "ops-hook"]
    assert s.channels[0].resolved_secret().get_secret_value() == "SECxyz"  # type: ignore[union-attr]
    assert s.channels[1].resolved_url().get_secret_value() == "https://hooks.slack.com/services/T/B/XYZ"
    text = repr(s) + str(s.model_dump())
    assert "access_token=abc" not in text
    assert "SECxyz" not in text
    assert "hooks.example/a" not in text


@pytest.mark.parametrize(
    "channels",
    [
        [{"kind": "dingtalk"}],  # no url
        [{"kind": "slack", "url": "https://a", "url_ref": "env:X"}],  # both
        [{"kind": "slack", "url": "https://a"}, {"kind": "slack", "url": "https://b"}],  # same name
        [{"kind": "slack", "url_ref": "env:ALERTING_TEST_UNSET_VARIABLE"}],  # dangling reference
        [{"kind": "teams", "url": "https://a"}],  # unknown IM
    ],
)
def test_bad_channel_config_fails_at_start(channels: list[dict[str, object]]) -> None:
    with pytest.raises(ValidationError):
        Settings(channels=channels)  # type: ignore[arg-type]


def test_bad_schedule_fails_at_start() -> None:
    with pytest.raises(ValidationError):
        Settings(inspection_time="25:00")
    with pytest.raises(ValidationError):
        Settings(inspection_timezone="Mars/Base")
    assert Settings(inspection_time="03:30").inspection_clock == (3, 30)
