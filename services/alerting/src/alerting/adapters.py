"""Adapters: IM webhooks, the REST ticket webhook and the internal APIs of definition, publisher and history-sync.

One ``httpx.AsyncClient`` per upstream with explicit timeouts (built in ``main``). Webhook URLs and signing secrets
are ``SecretStr`` until the moment of the request and never appear in logs or error texts (httpx errors are
reported by their type only, because their text may contain the URL).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import SecretStr

from alerting.domain.alerts import Alert
from alerting.domain.inspection import Finding
from alerting.domain.render import Language, Links, render
from alerting.domain.webhooks import Answer, Verdict, classify, dingtalk_sign, feishu_sign, generic_sign
from alerting.ports import (
    DriftReport,
    StaleReport,
    StaleWorkflow,
    TaskRef,
    WorkflowRef,
    WorkflowStructure,
)
from common.errors import DomainError, NotFound, UpstreamTimeout, UpstreamUnavailable

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


# --- internal APIs ---------------------------------------------------------------------------------------------


async def _get(client: httpx.AsyncClient, what: str, path: str, params: dict[str, Any] | None = None) -> Any:
    try:
        resp = await client.get(path, params=params)
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(f"{what} did not answer in time") from exc
    except httpx.TransportError as exc:
        raise UpstreamUnavailable(f"{what} is unreachable ({type(exc).__name__})") from exc
    if resp.status_code == 404:
        raise NotFound(f"{what}: {path} not found")
    if resp.status_code >= 500:
        raise UpstreamUnavailable(f"{what} answered HTTP {resp.status_code} to {path}")
    if resp.status_code >= 400:
        raise DomainError(f"{what} rejected {path}: HTTP {resp.status_code} {resp.text[:200]}")
    return resp.json()


PAGE_SIZE = 200


class DefinitionHttp:
    """definition's internal API (docs/api-contracts.md §1)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def _pages(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            body = await _get(self._client, "definition", path, {**params, "page": page, "page_size": PAGE_SIZE})
            items.extend(body["items"])
            if page * PAGE_SIZE >= int(body["total"]) or not body["items"]:
                return items
            page += 1

    async def unassigned_tasks(self) -> list[TaskRef]:
        rows = await self._pages("/internal/tasks", {"unassigned": "true"})
        return [TaskRef(int(r["id"]), str(r["name"]), r.get("workflow_id")) for r in rows]

    async def workflows(self) -> list[WorkflowRef]:
        rows = await self._pages("/internal/workflows", {"sort": "name"})
        return [
            WorkflowRef(
                int(r["id"]), str(r["name"]), str(r["publish_status"]), r.get("project_code"), r.get("workflow_code")
            )
            for r in rows
        ]

    async def workflow_structure(self, workflow_id: int) -> WorkflowStructure:
        body = await _get(self._client, "definition", f"/internal/workflows/{workflow_id}")
        return WorkflowStructure(
            id=workflow_id,
            task_ids=tuple(int(t["task_id"]) for t in body.get("tasks", [])),
            edges=tuple((int(e["upstream_task_id"]), int(e["downstream_task_id"])) for e in body.get("edges", [])),
        )

    async def tasks(self, ids: Sequence[int]) -> list[TaskRef]:
        out: list[TaskRef] = []
        unique = sorted(set(ids))
        for i in range(0, len(unique), PAGE_SIZE):
            chunk = unique[i : i + PAGE_SIZE]
            rows = await self._pages("/internal/tasks", {"ids": ",".join(map(str, chunk))})
            out.extend(TaskRef(int(r["id"]), str(r["name"]), r.get("workflow_id")) for r in rows)
        return out


class PublisherHttp:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def drift(self, workflow_id: int) -> DriftReport | None:
        try:
            body = await _get(self._client, "publisher", f"/internal/workflows/{workflow_id}/drift")
        except NotFound:
            return None
        subject = {
            k: body.get(k)
            for k in (
                "workflow_code",
                "project_code",
                "last_deployed_version_id",
                "last_deployed_hash",
                "ds_hash",
                "expected_ds_hash",
                "ds_version",
            )
            if body.get(k) is not None
        }
        return DriftReport(
            workflow_id=workflow_id,
            status=str(body["status"]),
            differences=tuple(str(d) for d in body.get("differences", [])),
            subject=subject,
        )


class HistoryHttp:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def stale(self, cycles: int) -> StaleReport:
        body = await _get(self._client, "history-sync", "/internal/workflows/stale", {"cycles": cycles})
        return StaleReport(
            threshold_s=float(body["threshold_s"]),
            workflows=tuple(
                StaleWorkflow(
                    workflow_id=int(w["workflow_id"]),
                    project_code=w.get("project_code"),
                    workflow_code=w.get("engine_workflow_code"),
                    last_synced_at=datetime.fromisoformat(w["last_synced_at"]) if w.get("last_synced_at") else None,
                    age_s=float(w["age_seconds"]),
                    last_error=w.get("last_error"),
                )
                for w in body["items"]
            ),
        )


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
