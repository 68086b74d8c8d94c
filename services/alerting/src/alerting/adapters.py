"""Adapters of the outside systems: IM webhooks and the REST ticket webhook (the platform's services: ``clients``).

One ``httpx.AsyncClient`` per channel with explicit timeouts (built in ``main``). Webhook URLs and signing secrets
are ``SecretStr`` until the moment of the request and never appear in logs or error texts (httpx errors are
reported by their type only, because their text may contain the URL).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Literal

import httpx
from pydantic import SecretStr

from alerting.domain.alerts import Alert
from alerting.domain.inspection import Finding
from alerting.domain.render import Language, Links, render
from alerting.domain.webhooks import Answer, Verdict, classify, dingtalk_sign, feishu_sign, generic_sign
from common.errors import UpstreamTimeout, UpstreamUnavailable

log = logging.getLogger(__name__)

JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


class WebhookNotifier:
    """A channel of one IM kind; the URL (with its token) and the optional signing secret are secrets."""

    def __init__(
        self,
        *,
        name: str,
        kind: Literal["dingtalk", "feishu", "wecom", "slack", "webhook"],
        url: SecretStr,
        secret: SecretStr | None,
        client: httpx.AsyncClient,
        language: Language,
        links: Links,
        feishu_msg_type: Literal["interactive", "text"] = "interactive",
    ) -> None:
        self._name, self._kind = name, kind
        self._url, self._secret = url, secret
        self._client = client
        self._language, self._links = language, links
        self._feishu_msg_type = feishu_msg_type

    @property
    def name(self) -> str:
        return self._name

    @property
    def kind(self) -> str:
        return self._kind

    def request(self, alerts: Sequence[Alert], *, now_s: float | None = None) -> httpx.Request:
        """The signed HTTP request for ``alerts`` (separate from ``send`` so tests can check it)."""
        body = render(self._kind, alerts, self._language, self._links, feishu_msg_type=self._feishu_msg_type)
        url = httpx.URL(self._url.get_secret_value())
        headers = dict(JSON_HEADERS)
        now = time.time() if now_s is None else now_s
        secret = self._secret.get_secret_value() if self._secret is not None else None
        if secret and self._kind == "dingtalk":
            ts = int(now * 1000)
            url = url.copy_merge_params({"timestamp": str(ts), "sign": dingtalk_sign(secret, ts)})
        elif secret and self._kind == "feishu":
            ts = int(now)
            body = {"timestamp": str(ts), "sign": feishu_sign(secret, ts), **body}
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        if secret and self._kind == "webhook":
            ts = int(now)
            headers["X-Alerting-Timestamp"] = str(ts)
            headers["X-Alerting-Signature"] = generic_sign(secret, ts, raw)
        return httpx.Request("POST", url, content=raw, headers=headers)

    async def send(self, alerts: Sequence[Alert]) -> Answer:
        req = self.request(alerts)
        try:
            resp = await self._client.send(req)
        except httpx.TimeoutException as exc:
            return Answer(Verdict.RETRY, f"timeout ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return Answer(Verdict.RETRY, f"connection failed ({type(exc).__name__})")
        return classify(self._kind, resp.status_code, resp.text)


class TicketWebhook:
    """Generic REST ticket webhook: POST the finding as JSON, read the ticket id from the answer."""

    def __init__(
        self, *, url: SecretStr, token: SecretStr | None, client: httpx.AsyncClient, id_field: str, links: Links
    ) -> None:
        self._url, self._token, self._client, self._id_field, self._links = url, token, client, id_field, links

    async def open_ticket(self, finding: Finding, *, record_id: int, inspection_id: int) -> str:
        body = {
            "source": "workflow-platform/alerting",
            "type": "consistency-inspection",
            "title": f"[inspection] {finding.summary}"[:250],
            "description": finding.summary,
            "finding_key": finding.key,
            "kind": finding.kind.value,
            "subject": dict(finding.subject),
            "inspection_id": inspection_id,
            "link": self._links.portal(finding.workflow_id),
        }
        headers = {"Idempotency-Key": f"alerting-ticket-{record_id}"}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        try:
            resp = await self._client.post(self._url.get_secret_value(), json=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("the ticket system did not answer in time") from exc
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(f"the ticket system is unreachable ({type(exc).__name__})") from exc
        if resp.status_code >= 300:
            raise UpstreamUnavailable(f"the ticket system answered HTTP {resp.status_code}: {resp.text[:200]}")
        try:
            ticket_id = resp.json()[self._id_field]
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamUnavailable(f"the ticket system's answer has no {self._id_field!r}") from exc
        return str(ticket_id)


class RecordingTicketSink:
    """Used when no ticket URL is configured: the ticket is our own record (its id is ``local-<record id>``)."""

    async def open_ticket(self, finding: Finding, *, record_id: int, inspection_id: int) -> str:
        return f"local-{record_id}"
