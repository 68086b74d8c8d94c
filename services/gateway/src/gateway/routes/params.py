"""Shared pieces of the routes: paging parameters, the ``Deps`` dependency, audit notes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, Response
from pydantic_core import to_json

from common.bounds import INT4_MAX, INT8_MAX
from gateway.deps import Deps, get_deps

DepsDep = Annotated[Deps, Depends(get_deps)]
PageQ = Annotated[int, Query(ge=1, le=INT4_MAX, description="1-based page")]
PageSizeQ = Annotated[int, Query(ge=1, le=200, description="items per page (max 200)")]
IdPath = Annotated[int, Path(ge=1, le=INT8_MAX)]
#: a version number (``integer`` in the database)
NumberPath = Annotated[int, Path(ge=1, le=INT4_MAX)]
#: a DolphinScheduler workflow or task instance id (a Java ``Integer`` in DS)
DsInstancePath = Annotated[int, Path(ge=1, le=INT4_MAX)]

PROBLEM_RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "Missing, unknown or revoked API key (problem JSON)"},
    403: {"description": "The key lacks the role (problem JSON)"},
    503: {"description": "A service is unavailable (problem JSON naming it)"},
    504: {"description": "A service did not answer in time (problem JSON naming it)"},
}


def note(request: Request, detail: str) -> None:
    """A short description of a mutating call for its audit row (never secrets, never bodies)."""
    request.state.audit_detail = detail


def json_page(page: dict[str, Any]) -> Response:
    """A composed page as JSON bytes, encoded once by pydantic-core: the routes of the busiest pages return it, so
    FastAPI does not validate and re-encode a page the services already shaped (their ``response_model`` still
    documents it)."""
    return Response(to_json(page), media_type="application/json")
