"""Input that PostgreSQL cannot store is a 422 problem before (``RejectNul``, ``common.bounds``) or after
(``invalid_input``) it reaches the database: never a 500."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy.exc import DBAPIError

from common.bounds import INT4_MAX, INT8_MAX, Id, Name, Number
from common.db import invalid_input
from common.http import RejectNul, install_problem_handlers


class Body(BaseModel):
    name: str


def _app(seen: list[Any]) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(RejectNul)

    @app.post("/items")
    async def create(body: Body) -> dict[str, str]:
        seen.append(body.name)
        return {"name": body.name}

    @app.get("/items")
    async def find(name: str = "") -> dict[str, str]:
        seen.append(name)
        return {"name": name}

    @app.get("/db")
    async def db() -> None:
        raise DBAPIError("SELECT", {}, asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence: 0x00"))

    return app


@pytest.fixture
def seen() -> list[Any]:
    return []


@pytest.fixture
async def client(seen: list[Any]) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=_app(seen), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


@pytest.mark.parametrize(
    ("method", "url", "content", "where"),
    [
        ("POST", "/items", b'{"name": "a\\u0000b"}', "body"),
        ("POST", "/items", b'{"name": "a\\\\\\u0000"}', "body"),  # an escaped backslash, then NUL
        ("GET", "/items?name=a%00b", None, "query"),
        ("GET", "/it%00ems", None, "path"),
    ],
)
async def test_nul_is_a_422_before_the_app_runs(
    client: httpx.AsyncClient, seen: list[Any], method: str, url: str, content: bytes | None, where: str
) -> None:
    r = await client.request(method, url, content=content, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["errors"][0]["location"] == where
    assert "NUL" in problem["detail"]
    assert seen == []


async def test_text_that_only_looks_like_nul_passes(client: httpx.AsyncClient, seen: list[Any]) -> None:
    # a backslash followed by "u0000" is ordinary text
    r = await client.post("/items", content=b'{"name": "a\\\\u0000"}', headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "a\\u0000"}
    r = await client.get("/items", params={"name": "100%"})
    assert r.status_code == 200
    assert seen == ["a\\u0000", "100%"]


async def test_a_value_the_database_refused_is_a_422(client: httpx.AsyncClient) -> None:
    r = await client.get("/db")
    assert r.status_code == 422
    assert r.json()["reason"] == "CharacterNotInRepertoireError"
    assert "cannot be stored" in r.json()["detail"]


def test_invalid_input_reads_the_cause_chain() -> None:
    inner = asyncpg.exceptions.NumericValueOutOfRangeError("value out of int32 range")
    try:
        try:
            raise inner
        except Exception as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as outer:
        refused = invalid_input(outer)
    assert refused is not None
    assert refused.status == 422
    assert "out of int32 range" in refused.detail
    assert invalid_input(RuntimeError("unrelated")) is None
    assert invalid_input(asyncpg.exceptions.UniqueViolationError("dup")) is None


@pytest.mark.parametrize(
    ("kind", "ok", "bad"),
    [(Id, [1, INT8_MAX], [0, INT8_MAX + 1, 10**20]), (Number, [1, INT4_MAX], [0, INT4_MAX + 1])],
)
def test_bounds(kind: Any, ok: list[int], bad: list[int]) -> None:
    adapter: TypeAdapter[int] = TypeAdapter(kind)
    for v in ok:
        assert adapter.validate_python(v) == v
    for v in bad:
        with pytest.raises(ValidationError):
            adapter.validate_python(v)


def test_names_are_trimmed_and_not_blank() -> None:
    adapter: TypeAdapter[str] = TypeAdapter(Name)
    assert adapter.validate_python("  daily load ") == "daily load"
    for blank in ("", "   ", "\t\n"):
        with pytest.raises(ValidationError, match=r"must not be blank|at least 1"):
            adapter.validate_python(blank)
