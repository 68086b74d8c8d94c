"""What a service checks before it reads a request: the body's size and the caller's identity; and the audit of what
changed something.

``ServiceGuard`` is pure ASGI and sits outside every middleware that reads the body (``common.http.RejectNul``):

1. health, readiness and metrics pass (the kubelet and Prometheus carry no identity);
2. a ``Content-Length`` over ``max_body_bytes`` is answered 413 before anything is read; a body without a length is
   counted while it is read and cut at the limit (:func:`limit_body`);
3. ``Authorization: Bearer <token>`` is verified (``common.identity.Verifier``): none, or one that does not verify,
   is a 401 problem, before the body is read;
4. every call that may change something (POST/PUT/PATCH/DELETE) is written to the service's ``audit_log`` after its
   answer was sent — the verified actor and the issuing service, method, path, status, request id, client address —
   refused ones included (actor empty, the reason as detail).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter
from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, Integer, MetaData, Table, Text, func, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.errors import PayloadTooLarge
from common.http import problem
from common.identity import MUTATING, InvalidToken, Verifier

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
_MAX_DETAIL = 500

REFUSED_CALLS = Counter(
    "identity_refused_total", "Calls refused for want of a valid identity token", ["service", "reason"]
)
AUDIT_WRITE_FAILURES = Counter(
    "audit_write_failures_total", "Mutating calls whose audit row could not be written", ["service"]
)


def add_audit_table(metadata: MetaData) -> Table:
    """The service's ``audit_log`` (its migrations create it)."""
    table = Table(
        "audit_log",
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("actor", Text),
        Column("issuer", Text),
        Column("method", Text, nullable=False),
        Column("path", Text, nullable=False),
        Column("status_code", Integer, nullable=False),
        Column("request_id", Text),
        Column("client", Text),
        Column("detail", Text),
    )
    Index("ix_audit_log_at", table.c.at.desc())
    return table


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope["headers"]:
        if k == name:
            return str(v.decode("latin-1"))
    return None


def content_length(scope: Scope) -> int | None:
    raw = _header(scope, b"content-length")
    return int(raw) if raw is not None and raw.isdigit() else None


def limit_body(receive: Receive, max_bytes: int) -> Receive:
    """``receive`` that raises :class:`PayloadTooLarge` once more than ``max_bytes`` of body came in."""
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > max_bytes:
                raise PayloadTooLarge(f"the request body is over the limit of {max_bytes} bytes")
        return message

    return limited


def too_large(max_bytes: int, path: str) -> Any:
    return problem(
        413,
        PayloadTooLarge.title,
        f"the request body is over the limit of {max_bytes} bytes",
        code=PayloadTooLarge.code,
        instance=path,
        max_bytes=max_bytes,
    )


async def run_with_body_limit(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    max_bytes: int,
    answered: dict[str, int] | None = None,
) -> None:
    """Run ``app`` with its body cut at ``max_bytes`` (:func:`limit_body`): a body found too large while it is read is
    answered 413, unless the app had begun its answer. ``answered["status"]`` is the status sent (for an audit)."""
    started = False

    async def send_wrapper(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
            if answered is not None:
                answered["status"] = int(message["status"])
        await send(message)

    try:
        await app(scope, limit_body(receive, max_bytes), send_wrapper)
    except PayloadTooLarge:
        if started:
            raise
        if answered is not None:
            answered["status"] = 413
        await too_large(max_bytes, scope["path"])(scope, receive, send)


class ServiceGuard:
    """See the module's summary. ``verifier`` may be a callable (built lazily); ``sessions`` gives the service's
    sessions for the audit (``None`` while the app is not started: nothing is written)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        verifier: Verifier,
        audit_table: Table | None = None,
        sessions: Callable[[Scope], async_sessionmaker[AsyncSession] | None] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.service = service
        self.verifier = verifier
        self.audit_table = audit_table
        self.sessions = sessions
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        audited = method in MUTATING
        length = content_length(scope)
        if length is not None and length > self.max_body_bytes:
            await self._refuse(scope, receive, send, too_large(self.max_body_bytes, scope["path"]), audited, None)
            return
        authorization = _header(scope, b"authorization")
        try:
            if authorization is None or not authorization.startswith("Bearer "):
                raise InvalidToken("no identity token: internal calls carry 'Authorization: Bearer <token>'")
            identity = self.verifier.verify(authorization[7:].strip())
        except InvalidToken as exc:
            reason = "missing" if authorization is None else "invalid"
            REFUSED_CALLS.labels(self.service, reason).inc()
            log.warning(
                "refused a call without a valid identity: %s",
                exc,
                extra={"path": scope["path"], "client": _client(scope)},
            )
            answer = problem(401, "Unauthorized", str(exc), code="unauthorized", instance=scope["path"])
            answer.headers["WWW-Authenticate"] = 'Bearer realm="platform-internal", error="invalid_token"'
            await self._refuse(scope, receive, send, answer, audited, str(exc))
            return
        state = scope.setdefault("state", {})
        state["identity"] = identity
        answered = {"status": 500}
        try:
            await run_with_body_limit(self.app, scope, receive, send, self.max_body_bytes, answered)
        finally:
            if audited:
                await self._audit(scope, answered["status"], identity.actor, identity.issuer, None)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, answer: Any, audited: bool, detail: str | None
    ) -> None:
        await answer(scope, receive, send)
        if audited:
            await self._audit(scope, answer.status_code, None, None, detail)

    async def _audit(
        self, scope: Scope, status: int, actor: str | None, issuer: str | None, detail: str | None
    ) -> None:
        if self.audit_table is None or self.sessions is None:
            return
        sessions = self.sessions(scope)
        if sessions is None:
            return
        try:
            async with sessions.begin() as session:
                await session.execute(
                    insert(self.audit_table).values(
                        actor=actor,
                        issuer=issuer,
                        method=scope["method"],
                        path=scope["path"][:1000],
                        status_code=status,
                        request_id=(_header(scope, b"x-request-id") or "")[:128] or None,
                        client=_client(scope),
                        detail=detail[:_MAX_DETAIL] if detail else None,
                    )
                )
        except Exception:
            AUDIT_WRITE_FAILURES.labels(self.service).inc()
            log.exception("audit row not written", extra={"path": scope["path"]})


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None
