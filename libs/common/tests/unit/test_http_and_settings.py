from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, SecretStr, ValidationError

from common.errors import Conflict, NotFound, TransientError
from common.http import install_health, install_problem_handlers
from common.settings import ServiceSettings
from common.telemetry import redact, register_secrets, setup_logging


class Body(BaseModel):
    n: int


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/missing")
    async def missing() -> None:
        raise NotFound("workflow 9 does not exist", workflow_id=9)

    @app.get("/conflict")
    async def conflict() -> None:
        raise Conflict("task 3 belongs to workflow 4", owner_workflow_id=4)

    @app.get("/down")
    async def down() -> None:
        raise TransientError("DolphinScheduler is unavailable")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    @app.post("/body")
    async def body(b: Body) -> int:
        return b.n

    async def ok() -> None:
        return None

    async def bad() -> None:
        raise ConnectionError("nope")

    install_health(app, lambda: {"database": ok, "kafka": bad})
    return app


@pytest.fixture
async def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_domain_errors_render_problem_json(client: httpx.AsyncClient) -> None:
    r = await client.get("/missing")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body == {
        "type": "/problems/not-found",
        "title": "Not found",
        "status": 404,
        "detail": "workflow 9 does not exist",
        "instance": "/missing",
        "workflow_id": 9,
    }
    r = await client.get("/conflict")
    assert r.status_code == 409
    assert r.json()["owner_workflow_id"] == 4


async def test_transient_is_503_with_retry_after(client: httpx.AsyncClient) -> None:
    r = await client.get("/down")
    assert r.status_code == 503
    assert r.headers["retry-after"] == "5"


async def test_unexpected_error_hides_internals(client: httpx.AsyncClient) -> None:
    r = await client.get("/boom")
    assert r.status_code == 500
    assert "secret internals" not in r.text


async def test_request_validation_is_422_problem(client: httpx.AsyncClient) -> None:
    r = await client.post("/body", json={"n": "x"})
    assert r.status_code == 422
    body = r.json()
    assert body["type"] == "/problems/validation-failed"
    assert body["errors"][0]["location"] == "body.n"


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"] == {"database": "ok", "kafka": "unavailable: ConnectionError"}
    assert (await client.get("/metrics")).status_code == 200


def test_settings_normalise_and_reject_database_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    class S(ServiceSettings):
        model_config = ServiceSettings.model_config | {"env_prefix": "TESTSVC_"}

    # a password no other setting can contain by chance (a two-letter one matched a random temporary directory's name)
    password = "pw-not-in-repr-7f3a"
    monkeypatch.setenv("TESTSVC_DATABASE_URL", f"postgresql://u:{password}@h:1/db")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k:1")
    s = S()
    assert s.database_url.get_secret_value() == f"postgresql+asyncpg://u:{password}@h:1/db"
    assert password not in repr(s)
    assert s.kafka_bootstrap_servers == "k:1"
    monkeypatch.setenv("TESTSVC_DATABASE_URL", "mysql://u@h/db")
    with pytest.raises(ValidationError):
        S()


def test_registered_secrets_never_reach_logs(caplog: pytest.LogCaptureFixture) -> None:
    setup_logging("test", json_logs=False)
    token = "tok-0123456789abcdef"
    register_secrets([SecretStr(token)])
    assert redact(f"calling with {token}") == "calling with ***"
    logger = logging.getLogger("test.secret")
    with caplog.at_level(logging.INFO):
        logger.info("header token=%s", token)
    assert token not in caplog.text
    assert "header token=***" in caplog.text


async def test_red_metrics_use_route_templates_and_skip_probes() -> None:
    from prometheus_client import REGISTRY

    from common.red import RedMetricsMiddleware

    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(RedMetricsMiddleware, service="red-test")

    @app.get("/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        if thing_id == 0:
            raise NotFound("no thing 0")
        return {"id": thing_id}

    install_health(app, dict)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        for i in (1, 2, 0):
            await c.get(f"/things/{i}")
        await c.get("/healthz")

    def count(status_class: str) -> float | None:
        labels = {"service": "red-test", "method": "GET", "route": "/things/{thing_id}", "status_class": status_class}
        return REGISTRY.get_sample_value("http_requests_total", labels)

    assert count("2xx") == 2
    assert count("4xx") == 1
    assert (
        REGISTRY.get_sample_value(
            "http_requests_total", {"service": "red-test", "method": "GET", "route": "/healthz", "status_class": "2xx"}
        )
        is None
    )
    assert (
        REGISTRY.get_sample_value(
            "http_request_duration_seconds_count",
            {"service": "red-test", "method": "GET", "route": "/things/{thing_id}"},
        )
        == 3
    )
