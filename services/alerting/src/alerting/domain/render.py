"""Alert → message body of each IM, in Chinese or English.

Two steps: ``card`` turns alerts into a language-specific ``Card`` (title, severity, labelled facts, links), then one
function per IM lays the card out in that IM's own webhook format:

- DingTalk custom robot: ``{"msgtype": "markdown", "markdown": {"title", "text"}}``
- Feishu/Lark custom bot: ``{"msg_type": "interactive", "card": {...}}`` or
  ``{"msg_type": "text", "content": {"text"}}``
- WeCom (企业微信) group robot: ``{"msgtype": "markdown", "markdown": {"content"}}`` (content ≤ 4096 bytes)
- Slack incoming webhook: ``{"text": fallback, "blocks": [...]}`` (mrkdwn, ``<url|label>`` links)
- generic JSON webhook: our own alert fields plus the rendered title and text.

Several alerts (a digest, when a channel is over its rate) become one card listing them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from alerting.domain.alerts import Alert, AlertKind, Severity
from common.dolphin.links import DsLinks

Language = Literal["zh", "en"]
Kind = Literal["dingtalk", "feishu", "wecom", "slack", "webhook"]

WECOM_MAX_BYTES = 4096
DINGTALK_MAX_BYTES = 18_000
SLACK_SECTION_MAX = 2900
SLACK_HEADER_MAX = 150


@dataclass(frozen=True)
class Links:
    portal_url: str
    ds_ui_url: str

    def portal(self, workflow_id: int | None) -> str | None:
        if workflow_id is None:
            return None
        return f"{self.portal_url.rstrip('/')}/workflows/{workflow_id}"

    def ds(self, project_code: int | None, workflow_code: int | None) -> str | None:
        """The workflow's definition page in DS's UI (``common.dolphin.links``, default DS version's routes)."""
        return DsLinks(self.ds_ui_url).workflow_definition(project_code, workflow_code)


@dataclass(frozen=True)
class Card:
    title: str
    severity: Severity
    fields: tuple[tuple[str, str], ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    #: digest lines (``title``, optional link)
    items: tuple[tuple[str, str | None], ...] = ()
    footer: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


_T: dict[str, dict[Language, str]] = {
    "workflow": {"en": "workflow {id}", "zh": "工作流 {id}"},
    "t_publish_failed": {"en": "Publish failed: {wf} ({op})", "zh": "发布失败：{wf}（{op}）"},
    "t_publish_diverged": {
        "en": "Publish failed: {wf} ({op}) — DolphinScheduler now holds it {state}",
        "zh": "发布失败：{wf}（{op}）— DolphinScheduler 当前为 {state} 状态",
    },
    "ds_state": {"en": "DolphinScheduler now holds it", "zh": "DolphinScheduler 当前状态"},
    "ds_unknown": {"en": "UNKNOWN (could not be read)", "zh": "未知（无法读取）"},
    "intended": {"en": "Intended", "zh": "预期状态"},
    "restoring": {
        "en": "The platform keeps restoring it; restore now or cancel on the workflow's page",
        "zh": "平台会自动重试恢复；可在工作流页面立即恢复或取消",
    },
    "next_step": {"en": "Next", "zh": "后续"},
    "t_execution_failed": {"en": "Execution failed: {wf}", "zh": "执行失败：{wf}"},
    "t_execution_streak": {"en": "{wf} failed {n} times in a row", "zh": "{wf} 连续失败 {n} 次"},
    "t_execution_rate": {
        "en": "{wf}: {failures} of the last {window} runs failed ({rate})",
        "zh": "{wf}：最近 {window} 次执行失败 {failures} 次（失败率 {rate}）",
    },
    "t_dead_letters": {"en": "Dead letters on {topic}", "zh": "{topic} 出现死信消息"},
    "t_history_stale": {"en": "Execution history of {wf} is stale", "zh": "{wf} 的执行历史同步已停滞"},
    "t_digest": {
        "en": "{n} alerts (sent together: the channel's rate limit was reached)",
        "zh": "{n} 条告警（已达本通道发送频率上限，合并发送）",
    },
    "operation": {"en": "Operation", "zh": "操作"},
    "record": {"en": "Publish record", "zh": "发布记录"},
    "operator": {"en": "Operator", "zh": "操作人"},
    "ds_error": {"en": "DolphinScheduler error", "zh": "DolphinScheduler 错误"},
    "instance": {"en": "Instance", "zh": "实例"},
    "state": {"en": "State", "zh": "状态"},
    "details": {"en": "Details", "zh": "详情"},
    "consumer": {"en": "Consumer", "zh": "消费者"},
    "reason": {"en": "Reason", "zh": "原因"},
    "error_type": {"en": "Error type", "zh": "错误类型"},
    "window": {"en": "Window from", "zh": "统计窗口起始"},
    "last_sync": {"en": "Last successful sync", "zh": "最近一次成功同步"},
    "never": {"en": "never", "zh": "从未成功"},
    "age": {"en": "Age", "zh": "已过去"},
    "threshold": {"en": "Threshold", "zh": "阈值"},
    "last_error": {"en": "Last error", "zh": "最近错误"},
    "incident": {"en": "Incident", "zh": "事件"},
    "open_portal": {"en": "Open in portal", "zh": "在平台中查看"},
    "open_ds": {"en": "Open in DolphinScheduler", "zh": "在 DolphinScheduler 中查看"},
    "sev_info": {"en": "INFO", "zh": "提示"},
    "sev_warning": {"en": "WARNING", "zh": "警告"},
    "sev_critical": {"en": "CRITICAL", "zh": "严重"},
    "minutes": {"en": "{n} min", "zh": "{n} 分钟"},
    "op_deploy": {"en": "deploy", "zh": "部署"},
    "op_online": {"en": "online", "zh": "上线"},
    "op_offline": {"en": "offline", "zh": "下线"},
}


def t(key: str, lang: Language, **kw: Any) -> str:
    return _T[key][lang].format(**kw)


def severity_label(s: Severity, lang: Language) -> str:
    return t(f"sev_{s.value}", lang)


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def _minutes(seconds: float, lang: Language) -> str:
    return t("minutes", lang, n=max(1, round(seconds / 60)))


def _ds_state(facts: dict[str, Any], lang: Language) -> str:
    return str(facts.get("release_state") or t("ds_unknown", lang))


def alert_title(a: Alert, lang: Language) -> str:
    wf = t("workflow", lang, id=a.workflow_id)
    f = a.facts
    match a.kind:
        case AlertKind.PUBLISH_FAILED:
            op = str(f.get("operation", ""))
            op = t(f"op_{op}", lang) if f"op_{op}" in _T else op
            if f.get("diverged"):
                return t("t_publish_diverged", lang, wf=wf, op=op, state=_ds_state(f, lang))
            return t("t_publish_failed", lang, wf=wf, op=op)
        case AlertKind.EXECUTION_FAILED:
            return t("t_execution_failed", lang, wf=wf)
        case AlertKind.EXECUTION_STREAK:
            return t("t_execution_streak", lang, wf=wf, n=f.get("details", {}).get("streak", "?"))
        case AlertKind.EXECUTION_RATE:
            d = f.get("details", {})
            rate = d.get("rate")
            return t(
                "t_execution_rate",
                lang,
                wf=wf,
                failures=d.get("failures", "?"),
                window=d.get("window", "?"),
                rate=f"{rate:.0%}" if isinstance(rate, int | float) else "?",
            )
        case AlertKind.DEAD_LETTERS:
            return t("t_dead_letters", lang, topic=f.get("topic", "?"))
        case AlertKind.HISTORY_STALE:
            return t("t_history_stale", lang, wf=wf)


def _fields(a: Alert, lang: Language) -> list[tuple[str, str]]:
    f = a.facts
    out: list[tuple[str, str]] = []

    def add(label: str, value: Any) -> None:
        if value is not None and value != "":
            out.append((t(label, lang), str(value)))

    match a.kind:
        case AlertKind.PUBLISH_FAILED:
            add("record", f.get("record_id"))
            add("operator", f.get("operator"))
            code, message = f.get("error_code"), f.get("error_message")
            if code is not None or message:
                add("ds_error", " ".join(x for x in (f"[{code}]" if code is not None else "", message or "") if x))
            if f.get("diverged"):
                add("ds_state", _ds_state(f, lang))
                add("intended", f.get("intended_release_state"))
                add("next_step", t("restoring", lang))
        case AlertKind.EXECUTION_FAILED | AlertKind.EXECUTION_STREAK | AlertKind.EXECUTION_RATE:
            add("instance", f.get("instance_id"))
            add("state", f.get("state"))
            details = f.get("details") or {}
            if details:
                add("details", ", ".join(f"{k}={v}" for k, v in sorted(details.items())))
        case AlertKind.DEAD_LETTERS:
            add("consumer", f.get("consumer"))
            add("error_type", f.get("error_type"))
            add("reason", f.get("reason"))
            window = f.get("window_start")
            if window:
                add("window", _when(datetime.fromisoformat(window)))
        case AlertKind.HISTORY_STALE:
            last = f.get("last_synced_at")
            add("last_sync", _when(datetime.fromisoformat(last)) if last else t("never", lang))
            if f.get("age_s") is not None:
                add("age", _minutes(float(f["age_s"]), lang))
            if f.get("threshold_s") is not None:
                add("threshold", _minutes(float(f["threshold_s"]), lang))
            add("last_error", f.get("last_error"))
    return out


def alert_links(a: Alert, lang: Language, links: Links) -> list[tuple[str, str]]:
    out = []
    portal = links.portal(a.workflow_id)
    if portal:
        out.append((t("open_portal", lang), portal))
    ds = links.ds(a.project_code, a.workflow_code)
    if ds:
        out.append((t("open_ds", lang), ds))
    return out


def card(alerts: Sequence[Alert], lang: Language, links: Links) -> Card:
    if not alerts:
        raise ValueError("nothing to render")
    if len(alerts) == 1:
        a = alerts[0]
        return Card(
            title=alert_title(a, lang),
            severity=a.severity,
            fields=tuple(_fields(a, lang)),
            links=tuple(alert_links(a, lang, links)),
            footer=f"{t('incident', lang)}: {a.incident_key} · {_when(a.occurred_at)}",
        )
    order = [Severity.INFO, Severity.WARNING, Severity.CRITICAL]
    worst = max((a.severity for a in alerts), key=order.index)
    items = tuple(
        (f"[{severity_label(a.severity, lang)}] {alert_title(a, lang)}", links.portal(a.workflow_id)) for a in alerts
    )
    return Card(title=t("t_digest", lang, n=len(alerts)), severity=worst, items=items)


# --- layouts -----------------------------------------------------------------------------------------------------


def _clip_bytes(text: str, limit: int) -> str:
    raw = text.encode()
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode(errors="ignore") + "…"


def _markdown(c: Card, lang: Language, *, heading: str) -> str:
    """Markdown understood by DingTalk, WeCom and Feishu ``lark_md`` (bold, links, line breaks)."""
    lines = [f"{heading}[{severity_label(c.severity, lang)}] {c.title}".strip(), ""]
    lines += [f"- **{label}**: {value}" for label, value in c.fields]
    lines += [f"- [{text}]({url})" if url else f"- {text}" for text, url in c.items]
    if c.links:
        lines += ["", " | ".join(f"[{label}]({url})" for label, url in c.links)]
    if c.footer:
        lines += ["", f"> {c.footer}"]
    return "\n".join(lines)


def _plain(c: Card, lang: Language) -> str:
    lines = [f"[{severity_label(c.severity, lang)}] {c.title}"]
    lines += [f"{label}: {value}" for label, value in c.fields]
    lines += [f"- {text}" + (f" {url}" if url else "") for text, url in c.items]
    lines += [f"{label}: {url}" for label, url in c.links]
    if c.footer:
        lines.append(c.footer)
    return "\n".join(lines)


def dingtalk(c: Card, lang: Language) -> dict[str, Any]:
    text = _clip_bytes(_markdown(c, lang, heading="#### "), DINGTALK_MAX_BYTES)
    return {"msgtype": "markdown", "markdown": {"title": c.title, "text": text}}


def wecom(c: Card, lang: Language) -> dict[str, Any]:
    return {
        "msgtype": "markdown",
        "markdown": {"content": _clip_bytes(_markdown(c, lang, heading="### "), WECOM_MAX_BYTES)},
    }


_FEISHU_TEMPLATE = {Severity.INFO: "blue", Severity.WARNING: "orange", Severity.CRITICAL: "red"}


def feishu(c: Card, lang: Language, msg_type: Literal["interactive", "text"] = "interactive") -> dict[str, Any]:
    if msg_type == "text":
        return {"msg_type": "text", "content": {"text": _plain(c, lang)}}
    body = [f"**{label}**: {value}" for label, value in c.fields]
    body += [f"- [{text}]({url})" if url else f"- {text}" for text, url in c.items]
    elements: list[dict[str, Any]] = []
    if body:
        elements.append({"tag": "div", "text": {"tag": "lark_md", "content": "\n".join(body)}})
    if c.links:
        elements.append(
            {
                "tag": "action",
                "actions": [
                    {"tag": "button", "text": {"tag": "plain_text", "content": label}, "url": url, "type": "default"}
                    for label, url in c.links
                ],
            }
        )
    if c.footer:
        elements.append({"tag": "note", "elements": [{"tag": "plain_text", "content": c.footer}]})
    return {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {
                "template": _FEISHU_TEMPLATE[c.severity],
                "title": {"tag": "plain_text", "content": f"[{severity_label(c.severity, lang)}] {c.title}"},
            },
            "elements": elements,
        },
    }


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(c: Card, lang: Language) -> dict[str, Any]:
    head = f"[{severity_label(c.severity, lang)}] {c.title}"
    lines = [f"*{slack_escape(label)}*: {slack_escape(value)}" for label, value in c.fields]
    lines += [f"• <{url}|{slack_escape(text)}>" if url else f"• {slack_escape(text)}" for text, url in c.items]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": head[:SLACK_HEADER_MAX], "emoji": False}}
    ]
    if lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:SLACK_SECTION_MAX]}})
    if c.links:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": label}, "url": url}
                    for label, url in c.links
                ],
            }
        )
    if c.footer:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": slack_escape(c.footer)}]})
    return {"text": slack_escape(head), "blocks": blocks}


def generic(alerts: Sequence[Alert], c: Card, lang: Language, links: Links) -> dict[str, Any]:
    items = []
    for a in alerts:
        item = a.to_json()
        item["title"] = alert_title(a, lang)
        item["links"] = {
            "portal": links.portal(a.workflow_id),
            "dolphinscheduler": links.ds(a.project_code, a.workflow_code),
        }
        items.append(item)
    body: dict[str, Any] = {
        "source": "workflow-platform/alerting",
        "language": lang,
        "title": c.title,
        "severity": c.severity.value,
        "text": _plain(c, lang),
        "digest": len(items) > 1,
        "alerts": items,
    }
    if len(items) == 1:
        body.update({k: v for k, v in items[0].items() if k not in ("title", "severity")})
    return body


def render(
    kind: Kind,
    alerts: Sequence[Alert],
    lang: Language,
    links: Links,
    *,
    feishu_msg_type: Literal["interactive", "text"] = "interactive",
) -> dict[str, Any]:
    """The JSON body to POST to a channel of ``kind`` (before any signing)."""
    c = card(alerts, lang, links)
    match kind:
        case "dingtalk":
            return dingtalk(c, lang)
        case "feishu":
            return feishu(c, lang, feishu_msg_type)
        case "wecom":
            return wecom(c, lang)
        case "slack":
            return slack(c, lang)
        case "webhook":
            return generic(alerts, c, lang, links)
