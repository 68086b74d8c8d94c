"""Shared pieces of the routes: paging parameters, the ``Deps`` dependency, audit notes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic_core import to_json

from common.bounds import INT4_MAX, INT8_MAX
from gateway.deps import Deps, get_deps
from gateway.responses import Problem

DepsDep = Annotated[Deps, Depends(get_deps)]
PageQ = Annotated[int, Query(ge=1, le=INT4_MAX, description="1-based page")]
PageSizeQ = Annotated[int, Query(ge=1, le=200, description="items per page (max 200)")]
IdPath = Annotated[int, Path(ge=1, le=INT8_MAX)]
#: a version number (``integer`` in the database)
NumberPath = Annotated[int, Path(ge=1, le=INT4_MAX)]
#: a DolphinScheduler workflow or task instance id (a Java ``Integer`` in DS)
DsInstancePath = Annotated[int, Path(ge=1, le=INT4_MAX)]


#: the problem answers every route may give (a service's own 4xx problem is passed through as it is)
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": Problem,
        "description": "Missing, unknown or revoked API key, or expired (`api-key-expired`) (problem JSON)",
    },
    403: {
        "model": Problem,
        "description": "The key lacks the role, or the scope (`insufficient-scope`, naming it in `scope`) "
        "(problem JSON)",
    },
    404: {"model": Problem, "description": "Not found (problem JSON)"},
    409: {"model": Problem, "description": "Conflicts with the current state; ``type`` says which (problem JSON)"},
    422: {"model": Problem, "description": "Invalid input; ``errors`` lists each (problem JSON)"},
    503: {"model": Problem, "description": "A service is unavailable (problem JSON naming it)"},
    504: {"model": Problem, "description": "A service did not answer in time (problem JSON naming it)"},
}


class PassThroughRoute(APIRoute):
    """A route whose answer is a service's, validated against its ``response_model`` and passed on with the fields
    the service sent (``response_model_exclude_unset``): the model's defaults are never added to it."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["response_model_exclude_unset"] = True
        super().__init__(path, endpoint, **kwargs)


def note(request: Request, detail: str) -> None:
    """A short description of a mutating call for its audit row (never secrets, never bodies)."""
    request.state.audit_detail = detail


def json_page(page: dict[str, Any]) -> Response:
    """A composed page as JSON bytes, encoded once by pydantic-core: the routes of the busiest pages return it, so
    FastAPI does not validate and re-encode a page the services already shaped (their ``response_model`` still
    documents it)."""
    return Response(to_json(page), media_type="application/json")
