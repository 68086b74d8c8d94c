"""Every alert kind in every IM format and both languages, checked against each IM's webhook payload shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from alerting.domain import alerts as A
from alerting.domain.render import WECOM_MAX_BYTES, Links, alert_title, render
from common.events.models import (
    FailureRule,
    PublishCompleted,
    PublishOperation,
    PublishOutcome,
    WorkflowExecutionFailed,
)

AT = datetime(2025, 6, 1, 8, 30, tzinfo=UTC)
LINKS = Links("https://portal.example/", "https://ds.example/dolphinscheduler/ui")
PORTAL = "https://portal.example/workflows/7"
DS = "https://ds.example/dolphinscheduler/ui/projects/11/workflow/definitions/22"


def publish_failed() -> A.Alert:
    return A.publish_failed(
        PublishCompleted(
            request_id=uuid4(), record_id=99, workflow_id=7, version_id=3, operation=PublishOperation.DEPLOY,
            outcome=PublishOutcome.FAILED, engine_workflow_code=22, project_code=11, error_code=50036,
            error_message="workflow definition name already exists", operator="alice", completed_at=AT,
        )
    )  # fmt: skip


def execution(rule: FailureRule, details: dict[str, object]) -> A.Alert:
    return A.execution_failed(
        WorkflowExecutionFailed(
            workflow_id=7, engine_workflow_code=22, project_code=11, rule=rule, instance_id=501, state="FAILURE",
            details=details, incident_key=f"7:{rule.value}:1", occurred_at=AT,
        )
    )  # fmt: skip


ALERTS = {
    "publish_failed": publish_failed(),
    "execution_failed": execution(FailureRule.FAILURE, {}),
    "execution_streak": execution(FailureRule.STREAK, {"streak": 3}),
    "execution_rate": execution(FailureRule.RATE, {"failures": 4, "window": 10, "rate": 0.4}),
    "dead_letters": A.dead_letters(
        "publish.requested", at=AT, window_s=3600, reason="schema violation", consumer="publisher",
        error_type="poison-message",
    ),
    "history_stale": A.history_stale(
        workflow_id=7, project_code=11, workflow_code=22, last_synced_at=AT, age_s=1800, threshold_s=900,
        last_error="DS timeout", now=AT,
    ),
}  # fmt: skip

TITLES = {
    ("publish_failed", "en"): "Publish failed: workflow 7 (deploy)",
    ("publish_failed", "zh"): "发布失败：工作流 7（部署）",
    ("execution_failed", "en"): "Execution failed: workflow 7",
    ("execution_failed", "zh"): "执行失败：工作流 7",
    ("execution_streak", "en"): "workflow 7 failed 3 times in a row",
    ("execution_streak", "zh"): "工作流 7 连续失败 3 次",
    ("execution_rate", "en"): "workflow 7: 4 of the last 10 runs failed (40%)",
    ("execution_rate", "zh"): "工作流 7：最近 10 次执行失败 4 次（失败率 40%）",
    ("dead_letters", "en"): "Dead letters on publish.requested",
    ("dead_letters", "zh"): "publish.requested 出现死信消息",
    ("history_stale", "en"): "Execution history of workflow 7 is stale",
    ("history_stale", "zh"): "工作流 7 的执行历史同步已停滞",
}

CASES = [(k, lang) for k in ALERTS for lang in ("en", "zh")]


def _text_of(kind: str, body: dict[str, object]) -> str:
    return json.dumps(body, ensure_ascii=False)


@pytest.mark.parametrize(("alert", "lang"), CASES)
def test_titles(alert: str, lang: str) -> None:
    assert alert_title(ALERTS[alert], lang) == TITLES[(alert, lang)]  # type: ignore[arg-type]


@pytest.mark.parametrize(("alert", "lang"), CASES)
def test_dingtalk_markdown(alert: str, lang: str) -> None:
    body = render("dingtalk", [ALERTS[alert]], lang, LINKS)  # type: ignore[arg-type]
    assert set(body) == {"msgtype", "markdown"}
    assert body["msgtype"] == "markdown"
    md = body["markdown"]
    assert set(md) == {"title", "text"}
    assert md["title"] == TITLES[(alert, lang)]
    assert md["text"].startswith("#### [")
    assert TITLES[(alert, lang)] in md["text"]
    a = ALERTS[alert]
    if a.workflow_id is not None:
        assert f"]({PORTAL})" in md["text"]
        assert f"]({DS})" in md["text"]
    else:
        assert "/workflows/" not in md["text"]


@pytest.mark.parametrize(("alert", "lang"), CASES)
def test_feishu_interactive_card(alert: str, lang: str) -> None:
    body = render("feishu", [ALERTS[alert]], lang, LINKS)  # type: ignore[arg-type]
    assert body["msg_type"] == "interactive"
    card = body["card"]
    assert card["header"]["title"]["tag"] == "plain_text"
    assert TITLES[(alert, lang)] in card["header"]["title"]["content"]
    assert card["header"]["template"] in {"blue", "orange", "red"}
    tags = [e["tag"] for e in card["elements"]]
    assert tags[0] == "div"
    assert card["elements"][0]["text"]["tag"] == "lark_md"
    buttons = [b for e in card["elements"] if e["tag"] == "action" for b in e["actions"]]
    urls = [b["url"] for b in buttons]
    if ALERTS[alert].workflow_id is not None:
        assert urls == [PORTAL, DS]
        assert all(b["tag"] == "button" and b["text"]["tag"] == "plain_text" for b in buttons)
    else:
        assert urls == []


@pytest.mark.parametrize(("alert", "lang"), CASES)
def test_feishu_text(alert: str, lang: str) -> None:
    body = render("feishu", [ALERTS[alert]], lang, LINKS, feishu_msg_type="text")  # type: ignore[arg-type]
    assert set(body) == {"msg_type", "content"}
    assert body["msg_type"] == "text"
    assert TITLES[(alert, lang)] in body["content"]["text"]


@pytest.mark.parametrize(("alert", "lang"), CASES)
def test_wecom_markdown(alert: str, lang: str) -> None:
    body = render("wecom", [ALERTS[alert]], lang, LINKS)  # type: ignore[arg-type]
    assert set(body) == {"msgtype", "markdown"}
    assert body["msgtype"] == "markdown"
    assert set(body["markdown"]) == {"content"}
    content = body["markdown"]["content"]
    assert TITLES[(alert, lang)] in content
    assert len(content.encode()) <= WECOM_MAX_BYTES


@pytest.mark.parametrize(("alert", "lang"), CASES)
def test_slack_blocks(alert: str, lang: str) -> None:
    body = render("slack", [ALERTS[alert]], lang, LINKS)  # type: ignore[arg-type]
    assert set(body) == {"text", "blocks"}
    assert TITLES[(alert, lang)] in body["text"]
    blocks = body["blocks"]
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["type"] == "plain_text"
    assert len(blocks[0]["text"]["text"]) <= 150
    assert blocks[1]["type"] == "section"
    assert blocks[1]["text"]["type"] == "mrkdwn"
    actions = [e["url"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert actions == ([PORTAL, DS] if ALERTS[alert].workflow_id is not None else [])


@pytest.mark.parametrize(("alert", "lang"), CASES)
def test_generic_json(alert: str, lang: str) -> None:
    a = ALERTS[alert]
    body = render("webhook", [a], lang, LINKS)  # type: ignore[arg-type]
    assert body["incident_key"] == a.incident_key
    assert body["kind"] == a.kind.value
    assert body["severity"] == a.severity.value
    assert body["title"] == TITLES[(alert, lang)]
    assert body["language"] == lang
    assert body["digest"] is False
    assert body["facts"] == a.facts
    assert body["links"] == (
        {"portal": PORTAL, "dolphinscheduler": DS}
        if a.workflow_id is not None
        else {"portal": None, "dolphinscheduler": None}
    )
    json.dumps(body)  # serialisable as it is


def test_publish_failure_shows_ds_error_in_both_languages() -> None:
    en = render("dingtalk", [ALERTS["publish_failed"]], "en", LINKS)["markdown"]["text"]
    zh = render("dingtalk", [ALERTS["publish_failed"]], "zh", LINKS)["markdown"]["text"]
    assert "**DolphinScheduler error**: [50036] workflow definition name already exists" in en
    assert "**DolphinScheduler 错误**: [50036] workflow definition name already exists" in zh
    assert "[Open in portal](" in en
    assert "[在平台中查看](" in zh


def test_slack_escapes_control_characters() -> None:
    a = A.dead_letters("lineage.changed", at=AT, window_s=3600, reason="<b>&bad</b>", consumer=None, error_type=None)
    section = render("slack", [a], "en", LINKS)["blocks"][1]["text"]["text"]
    assert "&lt;b&gt;&amp;bad&lt;/b&gt;" in section
    assert "<b>" not in section


def test_wecom_long_text_is_clipped_to_the_byte_limit() -> None:
    a = A.dead_letters("lineage.changed", at=AT, window_s=3600, reason="错" * 400, consumer="x" * 5000, error_type=None)
    content = render("wecom", [a], "zh", LINKS)["markdown"]["content"]
    assert len(content.encode()) <= WECOM_MAX_BYTES
    assert content.endswith("…")


@pytest.mark.parametrize("kind", ["dingtalk", "feishu", "wecom", "slack", "webhook"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_digest_lists_every_alert(kind: str, lang: str) -> None:
    alerts = list(ALERTS.values())
    body = render(kind, alerts, lang, LINKS)  # type: ignore[arg-type]
    text = _text_of(kind, body)
    expected = "6 alerts" if lang == "en" else "6 条告警"
    assert expected in text
    for a in alerts:
        assert alert_title(a, lang) in text  # type: ignore[arg-type]
    if kind == "webhook":
        assert body["digest"] is True
        assert [x["incident_key"] for x in body["alerts"]] == [a.incident_key for a in alerts]
