"""HTTP plumbing shared by every service: RFC 9457 problem JSON, health, readiness and metrics endpoints."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from common.errors import PlatformError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


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

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem(
            500,
            "Internal error",
            "An unexpected error occurred; it has been logged.",
            code="internal-error",
            instance=request.url.path,
        )


Check = Callable[[], Awaitable[None]]


def install_health(
    app: FastAPI, checks: Callable[[], Mapping[str, Check]], *, registry: CollectorRegistry = REGISTRY
) -> None:
    """``/healthz`` (process alive), ``/readyz`` (every dependency answers) and ``/metrics`` (Prometheus)."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        ok = True
        for name, check in checks().items():
            try:
                await check()
                results[name] = "ok"
            except Exception as exc:
                ok = False
                results[name] = f"unavailable: {type(exc).__name__}"
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": results}, status_code=200 if ok else 503
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
