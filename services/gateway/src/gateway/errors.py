"""Errors of the gateway's upstream calls.

Transport failures become ``common.errors.UpstreamUnavailable`` (503) / ``UpstreamTimeout`` (504) with a message
naming the service in words; those go through ``common.http``'s handlers like every platform error.

A problem answer of a service (4xx/5xx RFC 9457 JSON: 409 ``stale-version``, 422 validation …) is *passed through*:
same status, same body — except ``instance``, which becomes the public path that was called (the service's
``/internal/...`` path means nothing to the caller). That needs a handler of its own, since the body is not ours.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from common.http import PROBLEM_JSON
from common.upstream import BadUpstreamAnswer, UpstreamProblem

__all__ = ["BadUpstreamAnswer", "UpstreamProblem", "install_upstream_problem_handler"]


def install_upstream_problem_handler(app: FastAPI) -> None:
    @app.exception_handler(UpstreamProblem)
    async def _upstream_problem(request: Request, exc: UpstreamProblem) -> JSONResponse:
        body = {**exc.body, "instance": request.url.path}
        headers = {"Retry-After": "5"} if exc.status in (503, 504) else None
        return JSONResponse(body, status_code=exc.status, media_type=PROBLEM_JSON, headers=headers)
