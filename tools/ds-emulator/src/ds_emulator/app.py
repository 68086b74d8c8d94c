"""The emulator's HTTP surface (Starlette): DS REST under ``/dolphinscheduler`` (``rest_routes``, ``rest_handlers``,
``rest_params``), the Java gateway's callback under ``/_gateway/{method}`` (``gateway_callback``) and the control API
under ``/_emulator`` (``control``), behind the middleware of ``middleware``.

Statuses, codes and messages are DS 3.4.2's (``ds_emulator.errors``).
"""

from __future__ import annotations

import json
import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from ds_emulator.control import _fault_from_json, _rule_from_json
from ds_emulator.errors import DsError, JavaException, api_exception
from ds_emulator.faults import Faults
from ds_emulator.gateway_callback import _gateway_dispatch
from ds_emulator.middleware import FaultMiddleware, InstanceListFastPath
from ds_emulator.model import Json, fmt
from ds_emulator.rest_params import PREFIX, Params, _BadParam, envelope
from ds_emulator.rest_routes import REST_ROUTES, _rest_endpoint
from ds_emulator.state import Emulator

logger = logging.getLogger(__name__)


def create_app(emu: Emulator, faults: Faults) -> ASGIApp:
    routes: list[Route] = []
    for method, path, handler, api_status, http_status in REST_ROUTES:
        routes.append(Route(PREFIX + path, _rest_endpoint(emu, handler, api_status, http_status), methods=[method]))

    async def login(request: Request) -> Response:
        params = await Params.read(request)
        try:
            session = emu.login(params.req("userName"), params.req("userPassword"))
        except DsError as exc:
            return envelope(None, exc.code, exc.msg)
        except _BadParam as exc:
            err = api_exception("USER_LOGIN_FAILURE", str(exc))
            return envelope(None, err.code, err.msg)
        response = envelope({"sessionId": session, "securityConfigType": "PASSWORD"}, 0, "login success")
        response.set_cookie("sessionId", session, httponly=True)
        return response

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "UP"})

    async def gateway(request: Request) -> Response:
        method = request.path_params["method"]
        for rule in faults.take("gateway", method, actions=frozenset({"raise"})):
            if rule.action == "raise":
                return JSONResponse({"ok": False, "error": rule.message})
        try:
            body = await request.json()
            result = _gateway_dispatch(emu, method, list(body.get("args") or []))
        except DsError as exc:
            return JSONResponse({"ok": False, "error": exc.msg})
        except JavaException as exc:
            return JSONResponse({"ok": False, "error": str(exc)})
        except Exception as exc:
            logger.exception("gateway %s failed", method)
            return JSONResponse({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        return JSONResponse({"ok": True, "result": result})

    async def control(request: Request) -> Response:
        what = request.path_params["what"]
        body: Json = {}
        if request.method in ("POST", "PUT"):
            raw = await request.body()
            body = json.loads(raw) if raw else {}
        try:
            if what == "reset":
                emu.reset()
                faults.clear()
                return JSONResponse({"ok": True})
            if what == "faults":
                if request.method == "DELETE":
                    faults.clear()
                    return JSONResponse({"ok": True})
                if request.method == "GET":
                    return JSONResponse({"rules": [r.describe() for r in faults.rules],
                                         "globalLatencyMs": faults.global_latency_ms})  # fmt: skip
                if "globalLatencyMs" in body and "action" not in body:
                    faults.global_latency_ms = float(body["globalLatencyMs"])
                    return JSONResponse({"ok": True})
                return JSONResponse(faults.add(_fault_from_json(body)).describe())
            if what == "script":
                if request.method == "DELETE":
                    emu.rules.clear()
                else:
                    emu.add_rule(_rule_from_json(body))
                return JSONResponse({"ok": True})
            if what == "config":
                timing = emu.timing
                timing.submit_delay = float(body.get("submitDelaySeconds", timing.submit_delay))
                timing.dispatch_delay = float(body.get("dispatchDelaySeconds", timing.dispatch_delay))
                timing.task_duration = float(body.get("taskDurationSeconds", timing.task_duration))
                if "dsVersion" in body:
                    emu.ds_version = str(body["dsVersion"])
                return JSONResponse({"ok": True})
            if what == "seed":
                return JSONResponse(
                    emu.seed_bulk(
                        str(body["projectName"]),
                        int(body["workflows"]),
                        int(body.get("instancesPerWorkflow", 3)),
                        failure_every=int(body.get("failureEvery", 0)),
                        spacing_seconds=float(body.get("spacingSeconds", 60.0)),
                    )
                )
            if what == "users":
                user = emu.add_user(body["userName"], body.get("password", "secret"), body.get("tenantCode"))
                return JSONResponse(user.to_json())
            if what == "datasources":
                ds = emu.add_datasource(
                    body["name"], body.get("type", "POSTGRESQL"), body.get("connectionParams", "{}")
                )
                return JSONResponse(ds)
            if what == "state":
                emu.advance()
                return JSONResponse({
                    "projects": len(emu.projects), "workflows": len(emu.workflows),
                    "instances": len(emu.instances), "taskInstances": len(emu.task_runs),
                    "schedules": len(emu.schedules), "time": fmt(emu.clock()),
                })  # fmt: skip
        except (KeyError, ValueError, TypeError) as exc:
            return JSONResponse({"ok": False, "error": f"{type(exc).__name__}: {exc}"}, status_code=400)
        return JSONResponse({"ok": False, "error": f"unknown control {what}"}, status_code=404)

    routes += [
        Route(PREFIX + "/login", login, methods=["POST"]),
        Route(PREFIX + "/actuator/health", health, methods=["GET"]),
        Route("/_gateway/{method}", gateway, methods=["POST"]),
        Route("/_emulator/{what}", control, methods=["GET", "POST", "PUT", "DELETE"]),
    ]
    app = Starlette(routes=routes)
    return FaultMiddleware(InstanceListFastPath(app, emu), faults)
