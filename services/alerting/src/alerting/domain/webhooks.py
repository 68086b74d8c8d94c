"""Webhook protocol rules of each IM: request signing and how to read the answer.

Signing (all HMAC-SHA256, Base64):
- DingTalk: ``sign = base64(hmac(key=secret, msg=f"{timestamp_ms}\\n{secret}"))`` sent as the query parameters
  ``timestamp`` and ``sign`` (URL-encoded).
- Feishu/Lark: ``sign = base64(hmac(key=f"{timestamp_s}\\n{secret}", msg=b""))`` sent as ``timestamp`` and ``sign``
  members of the JSON body.
- generic webhook: ``X-Alerting-Signature: sha256=<hex hmac(key=secret, msg=f"{timestamp}.{body}")>`` with
  ``X-Alerting-Timestamp``; the receiver recomputes it over the raw body.
WeCom and Slack webhooks carry their secret in the URL only.

Answers: DingTalk, WeCom and Feishu answer HTTP 200 with an error code in the JSON body (``errcode`` / ``code``);
their throttling codes, HTTP 429, 408 and 5xx, timeouts and connection errors are retried; any other error will not
pass by itself (a wrong token, keyword or signature) and fails the delivery at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

#: error codes in a 200 answer that mean "try again later"
RETRYABLE_CODES: dict[str, frozenset[int]] = {
    # -1: system busy; 130101: more than 20 messages per minute
    "dingtalk": frozenset({-1, 130101}),
    # -1: system busy; 45009 / 45033: API frequency limits
    "wecom": frozenset({-1, 45009, 45033}),
    # 2200: internal error; 11232 / 11233 / 230020: send frequency limits
    "feishu": frozenset({2200, 11232, 11233, 230020}),
}


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """Base64 signature (not URL-encoded: the HTTP client encodes query parameters)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def generic_sign(secret: str, timestamp_s: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp_s}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class Verdict(StrEnum):
    OK = "ok"
    RETRY = "retry"
    FAIL = "fail"


@dataclass(frozen=True)
class Answer:
    verdict: Verdict
    detail: str = ""


def _code(kind: str, body: Any) -> tuple[int | None, str]:
    if not isinstance(body, dict):
        return None, ""
    if kind in ("dingtalk", "wecom"):
        code = body.get("errcode")
        return (int(code) if isinstance(code, int) else None), str(body.get("errmsg", ""))
    if kind == "feishu":
        code = body.get("code", body.get("StatusCode"))
        return (int(code) if isinstance(code, int) else None), str(body.get("msg", body.get("StatusMessage", "")))
    return None, ""


def classify(kind: str, status: int, text: str) -> Answer:
    """How a channel's HTTP answer ends the attempt."""
    snippet = text[:200]
    if status == 429 or status == 408 or status >= 500:
        return Answer(Verdict.RETRY, f"HTTP {status}: {snippet}")
    if not 200 <= status < 300:
        return Answer(Verdict.FAIL, f"HTTP {status}: {snippet}")
    if kind not in RETRYABLE_CODES:
        return Answer(Verdict.OK)
    try:
        body = json.loads(text) if text else None
    except ValueError:
        return Answer(Verdict.RETRY, f"HTTP {status} without a JSON answer: {snippet}")
    code, message = _code(kind, body)
    if code is None:
        return Answer(Verdict.RETRY, f"HTTP {status} without an error code: {snippet}")
    if code == 0:
        return Answer(Verdict.OK)
    verdict = Verdict.RETRY if code in RETRYABLE_CODES[kind] else Verdict.FAIL
    return Answer(verdict, f"{kind} error {code}: {message[:200]}")


def backoff_s(attempt: int, *, base_s: float, max_s: float) -> float:
    """Delay before attempt ``attempt + 1`` (exponential; the caller adds jitter)."""
    return float(min(max_s, base_s * 2 ** max(0, attempt - 1)))
