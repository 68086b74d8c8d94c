"""HTTP plumbing shared by every service: RFC 9457 problem JSON, health, readiness and metrics endpoints."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.db import invalid_input
from common.errors import PlatformError
from common.outage import DATABASE, database_unavailable

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

#: how long a service keeps an idle keep-alive connection open: longer than its callers keep idle connections in
#: their pools (``CLIENT_IDLE_S``), so a caller never sends on a connection the service is closing at that moment
#: (the race ends as a dropped connection, which the caller would have to report as an outage)
KEEP_ALIVE_S = 75
CLIENT_IDLE_S = 30.0


def problem(
    status: int, title: str, detail: str, /, *, code: str, instance: str | None = None, **extras: Any
) -> JSONResponse:
    """An RFC 9457 problem response. ``extras`` may not override the standard members (an error's own ``status``
    or ``title`` extra, e.g. a workflow status, is dropped rather than replacing the HTTP status)."""
    body: dict[str, Any] = {"type": f"/problems/{code}", "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extras.items() if k not in body})
    headers = {"Retry-After": "5"} if status in (503, 504) else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    """The one place where errors become HTTP responses."""

    @app.exception_handler(PlatformError)
    async def _platform_error(request: Request, exc: PlatformError) -> JSONResponse:
        if exc.status >= 500:
            log.warning("request failed: %s", exc.detail, extra={"path": request.url.path, "code": exc.code})
        return problem(exc.status, exc.title, exc.detail, code=exc.code, instance=request.url.path, **exc.extras)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"location": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"location": "", "message": "invalid request"}
        detail = f"{first['location']}: {first['message']}" + (
            f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        )
        return problem(
            422, "Validation failed", detail, code="validation-failed", instance=request.url.path, errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return problem(exc.status_code, detail, detail, code=f"http-{exc.status_code}", instance=request.url.path)

    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        refused = invalid_input(exc)
        if refused is not None:
            log.warning("request refused by the database: %s", refused.detail, extra={"path": request.url.path})
            return problem(
                refused.status,
                refused.title,
                refused.detail,
                code=refused.code,
                instance=request.url.path,
                **refused.extras,
            )
        if database_unavailable(exc):
            return outage_answer(exc, request.url.path)
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem(
            500,
            "Internal error",
            "An unexpected error occurred; it has been logged.",
            code="internal-error",
            instance=request.url.path,
        )

    # The driver's and the network's errors are answered inside the app: a handler of ``Exception`` alone answers
    # too, but Starlette raises the error again after it, and the server logs its traceback a second time.
    for error in (OSError, SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError, Exception):
        app.add_exception_handler(error, _unexpected)


def outage_answer(exc: BaseException, path: str) -> JSONResponse:
    """The answer to a request that met the database being unavailable: an outage, not a bug — told once per outage
    (common.outage) and answered as one (503 problem). Also for middleware that reads the database before the app
    (the gateway's API-key check): an error raised there would reach Starlette's outermost handler, which raises it
    again after answering, and the server then closes the client's kept-alive connection."""
    DATABASE.failed(exc)
    return problem(
        503,
        "Database unavailable",
        "The service's database cannot be reached; retry later.",
        code="database-unavailable",
        instance=path,
    )


#: the NUL character in JSON text: ``\u0000`` after an even number of backslashes (``\\u0000`` is not NUL)
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class RejectNul:
    """Refuses, with a 422 problem, a request whose path, query string or JSON body holds the NUL character: no
    PostgreSQL text or JSON value can store it, so such input would otherwise fail deep in a use case. The body is
    read before the app runs and handed on as it came (the app reads it whole anyway). A compressed body
    (``Content-Encoding`` other than ``identity``) is binary and passes: the route that accepts an encoding checks
    the decoded body (:func:`holds_nul`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = None
        if "\x00" in scope["path"]:
            where = "path"
        elif b"%00" in scope["query_string"]:
            where = "query"
        if where is None and scope["method"] in ("POST", "PUT", "PATCH") and not _encoded(scope):
            chunks: list[bytes] = []
            more = True
            while more:
                message = await receive()
                if message["type"] != "http.request":  # the client went away: let the app see it
                    await self.app(scope, _replay(message, receive), send)
                    return
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
            body = b"".join(chunks)
            if holds_nul(body):
                where = "body"
            else:
                await self.app(
                    scope, _replay({"type": "http.request", "body": body, "more_body": False}, receive), send
                )
                return
        if where is None:
            await self.app(scope, receive, send)
            return
        response = problem(
            422,
            "Validation failed",
            f"the request's {where} contains the NUL character (\\u0000), which cannot be stored: remove it",
            code="validation-failed",
            instance=scope["path"].replace("\x00", "\\u0000"),
            errors=[{"location": where, "message": "contains the NUL character", "type": "nul_character"}],
        )
        await response(scope, receive, send)


def holds_nul(body: bytes) -> bool:
    """Whether a (JSON) body holds the NUL character, raw or escaped."""
    return bool(_JSON_NUL.search(body)) or b"\x00" in body


def _encoded(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-encoding":
            return value.strip().lower() not in (b"", b"identity")
    return False


def _replay(first: Message, receive: Receive) -> Receive:
    """A ``receive`` that gives ``first``, then whatever the client sends next (a disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return first
        return await receive()

    return replay


Check = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Degradable:
    """A dependency the service can do without for a while: while its check fails the pod stays ready (it still
    serves), and ``/readyz`` says so (``status: degraded``) with ``degrades``: what is late or missing meanwhile."""

    check: Check
    degrades: str


def install_health(
    app: FastAPI,
    checks: Callable[[], Mapping[str, Check]],
    *,
    degradable: Callable[[], Mapping[str, Degradable]] = dict,
    registry: CollectorRegistry = REGISTRY,
) -> None:
    """``/healthz`` (process alive), ``/readyz`` (ready to serve) and ``/metrics`` (Prometheus).

    ``/readyz`` answers 503 when one of ``checks`` fails (the pod can serve nothing: take it out of rotation) and 200
    otherwise; a failing ``degradable`` check makes it ``degraded`` (200, with what that costs under ``degraded``)."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    async def run(check: Check) -> str:
        try:
            await check()
        except Exception as exc:
            return f"unavailable: {type(exc).__name__}"
        return "ok"

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        results = {name: await run(check) for name, check in checks().items()}
        optional = degradable()
        results |= {name: await run(d.check) for name, d in optional.items()}
        degraded = {name: d.degrades for name, d in optional.items() if results[name] != "ok"}
        ready = all(results[name] == "ok" for name in checks())
        body: dict[str, Any] = {
            "status": "unavailable" if not ready else "degraded" if degraded else "ok",
            "checks": results,
        }
        if degraded:
            body["degraded"] = degraded
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
