"""Signing of DingTalk, Feishu and the generic webhook; reading each IM's answers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from alerting.adapters import WebhookNotifier
from alerting.domain import alerts as A
from alerting.domain.render import Links
from alerting.domain.webhooks import Verdict, backoff_s, classify, dingtalk_sign, feishu_sign, generic_sign

AT = datetime(2025, 6, 1, tzinfo=UTC)
ALERT = A.dead_letters("lineage.changed", at=AT, window_s=3600, reason="bad", consumer="c", error_type="e")


def test_dingtalk_signature_matches_the_documented_recipe() -> None:
    # DingTalk: HMAC-SHA256 keyed with the secret over "timestamp\nsecret", Base64
    secret, ts = "SEC000example", 1700000000000
    expected = base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()).decode()
    assert dingtalk_sign(secret, ts) == expected
    assert dingtalk_sign(secret, ts + 1) != expected


def test_feishu_signature_matches_the_documented_recipe() -> None:
    # Feishu: HMAC-SHA256 keyed with "timestamp\nsecret" over an empty message, Base64
    secret, ts = "feishu-secret", 1700000000
    expected = base64.b64encode(hmac.new(f"{ts}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()
    assert feishu_sign(secret, ts) == expected
    assert feishu_sign("other", ts) != expected


def test_generic_signature_covers_timestamp_and_body() -> None:
    sig = generic_sign("k", 10, b'{"a":1}')
    assert sig == "sha256=" + hmac.new(b"k", b'10.{"a":1}', hashlib.sha256).hexdigest()
    assert generic_sign("k", 10, b'{"a":2}') != sig


def _notifier(kind: str, url: str, secret: str | None) -> WebhookNotifier:
    return WebhookNotifier(
        name=kind, kind=kind, url=SecretStr(url), secret=SecretStr(secret) if secret else None,  # type: ignore[arg-type]
        client=httpx.AsyncClient(), language="en", links=Links("http://p", "http://d"),
    )  # fmt: skip


def test_dingtalk_request_keeps_the_token_and_adds_timestamp_and_sign() -> None:
    req = _notifier("dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=TOKEN", "SECret").request(
        [ALERT], now_s=1700000000.5
    )
    q = parse_qs(urlsplit(str(req.url)).query)
    assert q["access_token"] == ["TOKEN"]
    assert q["timestamp"] == ["1700000000500"]
    assert q["sign"] == [dingtalk_sign("SECret", 1700000000500)]
    assert json.loads(req.content)["msgtype"] == "markdown"


def test_feishu_request_puts_timestamp_and_sign_in_the_body() -> None:
    req = _notifier("feishu", "https://open.feishu.cn/open-apis/bot/v2/hook/abc", "s3").request(
        [ALERT], now_s=1700000000
    )
    body = json.loads(req.content)
    assert body["timestamp"] == "1700000000"
    assert body["sign"] == feishu_sign("s3", 1700000000)
    assert body["msg_type"] == "interactive"


def test_generic_request_signs_the_exact_body() -> None:
    req = _notifier("webhook", "https://hooks.example/alerts", "k").request([ALERT], now_s=42)
    assert req.headers["X-Alerting-Timestamp"] == "42"
    assert req.headers["X-Alerting-Signature"] == generic_sign("k", 42, req.content)


def test_unsigned_requests_carry_no_signature() -> None:
    req = _notifier("dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=T", None).request([ALERT])
    assert "sign" not in parse_qs(urlsplit(str(req.url)).query)
    req = _notifier("webhook", "https://hooks.example/alerts", None).request([ALERT])
    assert "X-Alerting-Signature" not in req.headers


@pytest.mark.parametrize(
    ("kind", "status", "body", "verdict"),
    [
        ("dingtalk", 200, '{"errcode":0,"errmsg":"ok"}', Verdict.OK),
        ("dingtalk", 200, '{"errcode":130101,"errmsg":"send too fast"}', Verdict.RETRY),
        ("dingtalk", 200, '{"errcode":-1,"errmsg":"busy"}', Verdict.RETRY),
        ("dingtalk", 200, '{"errcode":310000,"errmsg":"sign not match"}', Verdict.FAIL),
        ("dingtalk", 200, "not json", Verdict.RETRY),
        ("wecom", 200, '{"errcode":0,"errmsg":"ok"}', Verdict.OK),
        ("wecom", 200, '{"errcode":45009,"errmsg":"api freq out of limit"}', Verdict.RETRY),
        ("wecom", 200, '{"errcode":93000,"errmsg":"invalid webhook url"}', Verdict.FAIL),
        ("feishu", 200, '{"code":0,"msg":"success","data":{}}', Verdict.OK),
        ("feishu", 200, '{"StatusCode":0,"StatusMessage":"success"}', Verdict.OK),
        ("feishu", 200, '{"code":11232,"msg":"frequency limited"}', Verdict.RETRY),
        ("feishu", 200, '{"code":19021,"msg":"sign match fail"}', Verdict.FAIL),
        ("slack", 200, "ok", Verdict.OK),
        ("slack", 429, "rate_limited", Verdict.RETRY),
        ("slack", 404, "no_team", Verdict.FAIL),
        ("webhook", 204, "", Verdict.OK),
        ("webhook", 500, "boom", Verdict.RETRY),
        ("webhook", 503, "", Verdict.RETRY),
        ("webhook", 408, "", Verdict.RETRY),
        ("webhook", 400, "bad", Verdict.FAIL),
        ("dingtalk", 502, "", Verdict.RETRY),
    ],
)
def test_classify(kind: str, status: int, body: str, verdict: Verdict) -> None:
    assert classify(kind, status, body).verdict is verdict


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff_s(n, base_s=2, max_s=20) for n in range(1, 6)] == [2, 4, 8, 16, 20]


async def test_timeouts_and_connection_errors_are_retried_without_leaking_the_url() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}")

    n = WebhookNotifier(
        name="w", kind="webhook", url=SecretStr("https://hooks.example/secret-token-123"), secret=None,
        client=httpx.AsyncClient(transport=httpx.MockTransport(boom)), language="en", links=Links("http://p", "http://d"),
    )  # fmt: skip
    answer = await n.send([ALERT])
    assert answer.verdict is Verdict.RETRY
    assert "secret-token-123" not in answer.detail
