"""ASGI middleware: the instance-list fast path (the hot read of history-sync) and injected faults."""

from __future__ import annotations

import asyncio
import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ds_emulator.faults import Faults
from ds_emulator.rest_params import PREFIX
from ds_emulator.state import Emulator

_INSTANCE_LIST_PATH = re.compile(PREFIX + r"/projects/([0-9]{1,18})/workflow-instances")
_FAST_QUERY_KEYS = frozenset({b"pageNo", b"pageSize", b"workflowDefinitionCode"})
_JSON_HEADERS = (b"content-type", b"application/json")


class InstanceListFastPath:
    """``GET .../workflow-instances?pageNo=…&pageSize=…&workflowDefinitionCode=…`` (the call history-sync makes for
    every tracked workflow in every cycle) answered without routing, request objects or re-encoding: final
    instances keep their encoded list entry (:meth:`Emulator.instance_list_entry`). The answer is byte for byte
    the one ``h_instances`` gives; every other request, and this one with other parameters, without a valid
    ``token`` header, for an unknown project or with a value the general path would reject, goes to ``app``."""

    def __init__(self, app: ASGIApp, emu: Emulator) -> None:
        self.app = app
        self.emu = emu

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self._answer(scope) if scope["type"] == "http" and scope["method"] == "GET" else None
        if body is None:
            await self.app(scope, receive, send)
            return
        headers = [(b"content-length", str(len(body)).encode()), _JSON_HEADERS]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _answer(self, scope: Scope) -> bytes | None:
        match = _INSTANCE_LIST_PATH.fullmatch(scope["path"])
        if match is None:
            return None
        query = _fast_query(scope["query_string"])
        if query is None:
            return None
        page_no, page_size, workflow_code = query
        token = next((value for name, value in scope["headers"] if name == b"token"), None)
        emu = self.emu
        if not token or emu.authenticate(token.decode("latin-1"), None) is None:
            return None
        project_code = int(match.group(1))
        if project_code not in emu.projects:
            return None
        emu.advance()
        now = emu.clock()
        instances = emu.workflow_instances_newest_first(project_code, workflow_code, now)
        total = len(instances)
        offset = (page_no - 1) * page_size
        entries = b",".join(emu.instance_list_entry(i, now) for i in instances[offset : offset + page_size])
        tail = (
            f'],"total":{total},"totalPage":{max(1, -(-total // page_size))},"pageSize":{page_size},'
            f'"currentPage":{page_no},"pageNo":{offset}}},"success":true,"failed":false}}'
        )
        return b'{"code":0,"msg":"success","data":{"totalList":[' + entries + tail.encode()


def _fast_query(raw: bytes) -> tuple[int, int, int] | None:
    """(pageNo, pageSize, workflowDefinitionCode) when the query is exactly these three as plain positive numbers
    (each once, nothing percent-encoded); ``None`` for anything else."""
    values: dict[bytes, int] = {}
    for part in raw.split(b"&"):
        key, sep, value = part.partition(b"=")
        if not sep or key not in _FAST_QUERY_KEYS or key in values or not value.isdigit() or len(value) > 18:
            return None
        values[key] = int(value)
    if len(values) != len(_FAST_QUERY_KEYS):
        return None
    page_no, page_size = values[b"pageNo"], values[b"pageSize"]
    if page_no < 1 or page_size < 1:
        return None
    return page_no, page_size, values[b"workflowDefinitionCode"]


class FaultMiddleware:
    """Applies REST faults to ``/dolphinscheduler/...`` before the app sees the request."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        path = str(scope["path"])[len(PREFIX) :]
        if path == "/actuator/health":
            await self.app(scope, receive, send)
            return
        rules = self.faults.take("rest", path, str(scope["method"]))
        if self.faults.global_latency_ms > 0 or any(r.action == "latency" for r in rules):
            # like a real server, a slow request is processed once received, even if the client gives up meanwhile
            receive = await _received(receive)
        if self.faults.global_latency_ms > 0:
            await asyncio.sleep(self.faults.global_latency_ms / 1000)
        for rule in rules:
            if rule.action == "latency":
                await asyncio.sleep(rule.latency_ms / 1000)
            elif rule.action == "hang":
                await self.faults.hang(rule.hang_seconds)
                await _send_simple(send, 503, b"")
                return
            elif rule.action == "drop":
                await _drop(send)
                return
            elif rule.action == "unauthorized":
                await _send_simple(send, 401, b"")
                return
            elif rule.action == "http_status":
                await _send_simple(send, rule.status, b"injected failure", b"text/plain")
                return
            elif rule.action == "ds_error":
                msg = rule.ds_msg if rule.ds_msg is not None else f"injected DS error {rule.ds_code}"
                body = json.dumps(
                    {"code": rule.ds_code, "msg": msg, "data": None, "success": False, "failed": True}
                ).encode()
                await _send_simple(send, 200, body, b"application/json")
                return
        await self.app(scope, receive, send)


async def _received(receive: Receive) -> Receive:
    """Read the whole request body now; the returned ``receive`` hands it to the app (then waits like uvicorn)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    pending: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        await asyncio.Event().wait()  # never a disconnect: the request is processed to its end
        raise AssertionError("unreachable")

    return replay


async def _send_simple(send: Send, status: int, body: bytes, content_type: bytes | None = None) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if content_type:
        headers.append((b"content-type", content_type))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _drop(send: Send) -> None:
    """Close the client's socket without answering (uvicorn's ``send`` is bound to its request cycle)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()
        return
    # Fallback: promise a body and never send it, so the client sees an incomplete response.
    start: Message = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]}
    await send(start)
    raise ConnectionAbortedError("dropped by fault injection")
