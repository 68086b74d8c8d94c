"""Request context and the audit log.

``RequestContextMiddleware`` (pure ASGI, outermost of ours) gives every request an id (a sane incoming
``X-Request-Id`` or a new one, echoed in the answer) and writes one ``audit_log`` row for every mutating call
(POST/PUT/PATCH/DELETE) under ``/api/``, whatever its result: 2xx, 4xx (401 and 403 included), 5xx, even an
exception. The row holds who (the key's user name once authenticated), what (method, path, resource), when, the
status and outcome, the request id and a short detail: the route's own note on success, the problem's ``detail`` on
failure. Request bodies are never recorded.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import datetime
from typing import Any

from prometheus_client import Counter
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.db import unit_of_work
from common.http import PROBLEM_JSON
from common.outage import DATABASE, database_unavailable
from gateway.db import repository as repo
from gateway.db.repository import Record
from gateway.domain.links import audit_resource

log = logging.getLogger(__name__)

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_MAX_PROBLEM_BYTES = 16_384
_MAX_DETAIL = 500

AUDIT_WRITE_FAILURES = Counter("gateway_audit_write_failures", "Mutating calls whose audit row could not be written")


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str | None
    method: str
    path: str
    resource: str | None
    status_code: int
    outcome: str
    request_id: str
    detail: str | None

    @classmethod
    def of(cls, row: Record) -> AuditEntry:
        return cls(
            id=row.id,
            at=row.at,
            actor=row.actor,
            method=row.method,
            path=row.path,
            resource=row.resource,
            status_code=row.status_code,
            outcome=row.outcome,
            request_id=row.request_id,
            detail=row.detail,
        )


class AuditPage(BaseModel):
    items: list[AuditEntry]
    total: int
    page: int
    page_size: int


async def record_audit(
    sessions: async_sessionmaker[AsyncSession],
    *,
    actor: str | None,
    method: str,
    path: str,
    status_code: int,
    request_id: str,
    detail: str | None,
) -> None:
    async with unit_of_work(sessions) as session:
        await repo.insert_audit(
            session,
            actor=actor,
            method=method,
            path=path,
            resource=audit_resource(path),
            status_code=status_code,
            outcome="success" if status_code < 400 else "failure",
            request_id=request_id,
            detail=detail[:_MAX_DETAIL] if detail else None,
        )


async def list_audit(
    sessions: async_sessionmaker[AsyncSession],
    *,
    actor: str | None,
    path: str | None,
    outcome: str | None,
    page: int,
    page_size: int,
) -> AuditPage:
    async with unit_of_work(sessions) as session:
        rows, total = await repo.list_audit(
            session, actor=actor, path_prefix=path, outcome=outcome, page=page, page_size=page_size
        )
    return AuditPage(items=[AuditEntry.of(r) for r in rows], total=total, page=page, page_size=page_size)


def request_id_from(headers: Headers) -> str:
    incoming = headers.get("x-request-id", "")
    return incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex


def _problem_detail(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(data, dict):
        detail = data.get("detail") or data.get("title")
        return str(detail) if detail else None
    return None


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(Headers(scope=scope))
        # A per-request copy: servers may hand every request the same lifespan-state dict, and what a request
        # stores (its actor, its audit note) must never leak into another one.
        state: dict[str, Any] = {**scope.get("state", {}), "request_id": request_id}
        scope["state"] = state
        method: str = scope["method"]
        path: str = scope["path"]
        in_api = path.startswith("/api/")
        audited = in_api and method in MUTATING
        seen: dict[str, Any] = {"status": 500, "problem": False}
        problem_body = bytearray()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-Id"] = request_id
                if in_api and message["status"] == 401:
                    headers["WWW-Authenticate"] = 'Bearer realm="api"'
                seen["problem"] = headers.get("content-type", "").startswith(PROBLEM_JSON)
            elif (
                message["type"] == "http.response.body"
                and audited
                and seen["problem"]
                and len(problem_body) < _MAX_PROBLEM_BYTES
            ):
                problem_body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            if audited:
                await self._audit(scope, state, method, path, 500, request_id, "unexpected error")
            raise
        if audited:
            status = int(seen["status"])
            detail = _problem_detail(bytes(problem_body)) if status >= 400 else state.get("audit_detail")
            await self._audit(scope, state, method, path, status, request_id, detail)

    async def _audit(
        self,
        scope: Scope,
        state: dict[str, Any],
        method: str,
        path: str,
        status: int,
        request_id: str,
        detail: str | None,
    ) -> None:
        deps = getattr(scope["app"].state, "deps", None)
        if deps is None:
            log.error("audit log not written: the gateway is not started", extra={"request_id": request_id})
            return
        try:
            await record_audit(
                deps.sessions,
                actor=state.get("actor"),
                method=method,
                path=path,
                status_code=status,
                request_id=request_id,
                detail=detail,
            )
        except Exception as exc:
            AUDIT_WRITE_FAILURES.inc()
            if database_unavailable(exc):
                DATABASE.failed(exc)  # told once per outage (common.outage), like the request it belongs to
                return
            log.error(
                "audit log not written: %s",
                type(exc).__name__,
                extra={"request_id": request_id, "path": path, "status_code": status},
            )
