"""uvicorn factories of the services with telemetry off (``--app-dir bench``, ``_bench_factories:<svc>_no_telemetry``).

definition, lineage-resolver and the gateway take ``telemetry=False``; history-sync's ``create_app`` has no such
flag, so its call of ``common.app.create_service_app`` is given ``telemetry=False`` here.
"""

from __future__ import annotations

import functools

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
