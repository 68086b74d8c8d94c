"""uvicorn factories of the services for the benchmarks (``--app-dir bench``, ``_bench_factories:<name>``): with
telemetry off (``<svc>_no_telemetry``), and without the zero-trust checks (``<svc>_no_identity``: the baseline of
``bench_zero_trust.py``; benchmarks only, the services have no such switch).

definition, lineage-resolver and the gateway take ``telemetry=False``; history-sync's ``create_app`` has no such
flag, so its call of ``common.app.create_service_app`` is given ``telemetry=False`` here.
"""

from __future__ import annotations

import functools
from typing import Any

from fastapi import FastAPI


def definition_no_telemetry() -> FastAPI:
    from definition.main import create_app

    return create_app(telemetry=False)


def lineage_no_telemetry() -> FastAPI:
    from lineage_resolver.main import create_app

    return create_app(telemetry=False)


def gateway_no_telemetry() -> FastAPI:
    from gateway.main import create_app

    return create_app(telemetry=False)


def history_no_telemetry() -> FastAPI:
    from history_sync import main

    main.create_service_app = functools.partial(main.create_service_app, telemetry=False)  # type: ignore[attr-defined]
    return main.create_app()


def publisher_app() -> FastAPI:
    from publisher.config import Settings
    from publisher.main import create_app

    return create_app(Settings())


# --------------------------------------------------------------------------------- without the zero-trust checks


class _NoSigner:
    """Signs nothing: no identity token, no publish approval."""

    kid = "-"

    def token(self, *args: object, **kwargs: object) -> str:
        return "-"

    def sign(self, *args: object, **kwargs: object) -> str:
        return "-"

    def auth(self, audience: str) -> None:
        return None


class _Trusting:
    """In place of ``common.guard.ServiceGuard``: every call is taken to be an admin's, as the services took the
    ``X-Actor`` header before (no body limit, no token check, no audit row)."""

    def __init__(self, app: Any) -> None:
        from common.identity import Identity

        self.app = app
        self.identity = Identity("bench", ("admin",), "gateway")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["identity"] = self.identity
        await self.app(scope, receive, send)


def _without_guard(app: FastAPI) -> FastAPI:
    """The app with ``_Trusting`` in place of the guard; Starlette builds its middleware stack at the first request,
    from this list."""
    from starlette.middleware import Middleware

    from common.guard import ServiceGuard

    app.user_middleware = [Middleware(_Trusting) if m.cls is ServiceGuard else m for m in app.user_middleware]
    return app


def definition_no_identity() -> FastAPI:
    from definition import main

    main.signer_from = lambda settings: _NoSigner()  # type: ignore[assignment,return-value]
    return _without_guard(main.create_app())


def history_no_identity() -> FastAPI:
    from history_sync.main import create_app

    return _without_guard(create_app())


def lineage_no_identity() -> FastAPI:
    from lineage_resolver.main import create_app

    return _without_guard(create_app())


def publisher_no_identity() -> FastAPI:
    from publisher.service import ds_run

    ds_run.check_approval = lambda *args, **kwargs: "-"  # type: ignore[assignment]
    return _without_guard(publisher_app())


def gateway_no_identity() -> FastAPI:
    """The gateway sends no identity token (a placeholder header); its own API-key check stays as before."""
    from gateway import main

    main.signer_from = lambda settings: _NoSigner()  # type: ignore[assignment,return-value]
    return main.create_app()
