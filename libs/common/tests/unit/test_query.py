"""``common.query``: a query string read into one model behaves, and is documented, like declared parameters."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import httpx
import pytest
from fastapi import FastAPI, Query, Request
from pydantic import BaseModel, Field

from common.http import install_problem_handlers
from common.query import parse_query, query_parameters


class ListQuery(BaseModel):
    owner_id: int | None = Field(None, alias="ownerId", ge=1, description="rows of this owner")
    name: str | None = Field(None, max_length=5, description="name contains")
    kind: Literal["a", "b"] | None = None
    archived: bool = False
    page: int = Field(1, ge=1)
    page_size: int = Field(20, ge=1, le=200)


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/model", openapi_extra=query_parameters(ListQuery))
    async def by_model(request: Request) -> dict[str, Any]:
        return parse_query(ListQuery, request).model_dump()

    # the same parameters declared one by one: the reference behaviour
    @app.get("/declared")
    async def declared(
        owner_id: Annotated[int | None, Query(alias="ownerId", ge=1, description="rows of this owner")] = None,
        name: Annotated[str | None, Query(max_length=5, description="name contains")] = None,
        kind: Literal["a", "b"] | None = None,
        archived: bool = False,
        page: Annotated[int, Query(ge=1)] = 1,
        page_size: Annotated[int, Query(ge=1, le=200)] = 20,
    ) -> dict[str, Any]:
        return {
            "owner_id": owner_id,
            "name": name,
            "kind": kind,
            "archived": archived,
            "page": page,
            "page_size": page_size,
        }

    return app


@pytest.fixture
async def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://t")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "ownerId=7&page=2&page_size=50",
        "kind=b&archived=true&name=ab",
        "archived=1&archived=off",  # the last value of a repeated parameter counts
        "owner_id=7&unknown=x",  # by alias only; unknown parameters are ignored
    ],
)
async def test_values_are_those_of_declared_parameters(client: httpx.AsyncClient, query: str) -> None:
    by_model = await client.get(f"/model?{query}")
    declared = await client.get(f"/declared?{query}")
    assert by_model.status_code == declared.status_code == 200
    assert by_model.json() == declared.json()


@pytest.mark.parametrize(
    ("query", "location"),
    [
        ("ownerId=0", "query.ownerId"),
        ("ownerId=x", "query.ownerId"),
        ("name=toolong", "query.name"),
        ("kind=c", "query.kind"),
        ("archived=maybe", "query.archived"),
        ("page_size=201", "query.page_size"),
    ],
)
async def test_bad_values_are_the_same_422_problem(client: httpx.AsyncClient, query: str, location: str) -> None:
    by_model = await client.get(f"/model?{query}")
    declared = await client.get(f"/declared?{query}")
    assert by_model.status_code == declared.status_code == 422
    assert by_model.headers["content-type"] == "application/problem+json"
    body = by_model.json()
    assert body["type"] == "/problems/validation-failed"
    assert [e["location"] for e in body["errors"]] == [location]
    assert by_model.json()["errors"] == declared.json()["errors"]
    assert body["detail"] == declared.json()["detail"]


def test_openapi_documents_the_same_parameters() -> None:
    spec = _app().openapi()
    by_model = {p["name"]: p for p in spec["paths"]["/model"]["get"]["parameters"]}
    declared = {p["name"]: p for p in spec["paths"]["/declared"]["get"]["parameters"]}
    assert by_model.keys() == declared.keys() == {"ownerId", "name", "kind", "archived", "page", "page_size"}
    for name, parameter in declared.items():
        ours = by_model[name]
        assert (ours["in"], ours["required"], ours.get("description")) == (
            parameter["in"],
            parameter["required"],
            parameter.get("description"),
        ), name
        # the same types and constraints (titles may differ: FastAPI titles a parameter by its Python name)
        strip = {"title"}
        assert {k: v for k, v in ours["schema"].items() if k not in strip} == {
            k: v for k, v in parameter["schema"].items() if k not in strip
        }, name


def test_a_model_that_is_not_flat_is_refused() -> None:
    class Inner(BaseModel):
        x: int

    class Nested(BaseModel):
        inner: Inner | None = None

    with pytest.raises(TypeError, match="not flat"):
        query_parameters(Nested)
