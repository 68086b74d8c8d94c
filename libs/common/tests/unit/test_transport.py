"""The one HTTP path (``common.transport``) under the DS REST client: failures map to DolphinTimeout /
DolphinUnavailable, URLs are built as httpx builds them, and DS dates parse the same on the fast path."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httpx
import pytest
from pydantic import SecretStr

from common.dolphin import DolphinApiError, DolphinTimeout, DolphinUnavailable
from common.dolphin.models import Page, WorkflowInstance, parse_ds_datetime
from common.dolphin.rest import DolphinRestClient
from common.transport import query_string, transport_failure

pytestmark = pytest.mark.timeout(30)


def _wrapped(httpx_type: type[httpx.TransportError], cause: BaseException) -> httpx.TransportError:
    """An httpx error ``from`` an aiohttp one (as an httpx-over-aiohttp transport raises them)."""
    try:
        raise httpx_type(str(cause)) from cause
    except httpx.TransportError as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        # such a transport maps every ClientConnectionError to ConnectTimeout: the cause decides
        (_wrapped(httpx.ConnectTimeout, aiohttp.ServerDisconnectedError()), "unavailable"),
        (_wrapped(httpx.ConnectTimeout, aiohttp.ClientOSError(104, "reset")), "unavailable"),
        (_wrapped(httpx.ConnectTimeout, aiohttp.ConnectionTimeoutError("connect")), "timeout"),
        (_wrapped(httpx.ReadTimeout, aiohttp.SocketTimeoutError("read")), "timeout"),
        (_wrapped(httpx.ReadError, aiohttp.ClientPayloadError("truncated")), "unavailable"),
        # aiohttp's own errors (the deployed path)
        (aiohttp.ClientResponseError(None, (), status=400, message="bad status line"), "unavailable"),  # type: ignore[arg-type]
        (TimeoutError(), "timeout"),
        # httpx's (a fake behind the transport)
        (httpx.ReadTimeout("read"), "timeout"),
        (httpx.PoolTimeout("pool"), "timeout"),
        (httpx.ConnectError("refused"), "unavailable"),
        (httpx.RemoteProtocolError("closed"), "unavailable"),
        # not the HTTP layer
        (ValueError("x"), None),
        (httpx.InvalidURL("x"), None),
    ],
)
def test_transport_failure_classifies_by_the_original_error(exc: BaseException, expected: str | None) -> None:
    assert transport_failure(exc) == expected


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _server(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/dolphinscheduler"
    finally:
        server.close()
        await server.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


@pytest.fixture
async def dropping_server() -> AsyncIterator[str]:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.transport.abort()

    async for url in _server(handler):
        yield url


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(10)
        writer.close()

    async for url in _server(handler):
        yield url


@pytest.fixture
async def truncating_server() -> AsyncIterator[str]:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"code":')
        await writer.drain()
        writer.transport.abort()

    async for url in _server(handler):
        yield url


def _client(url: str, *, read_timeout: float = 5.0) -> DolphinRestClient:
    return DolphinRestClient.create(
        url, SecretStr("t"), timeout=httpx.Timeout(read_timeout, connect=2.0), read_attempts=1
    )


async def test_dropped_connection_is_unavailable(dropping_server: str) -> None:
    async with _client(dropping_server) as client:
        with pytest.raises(DolphinUnavailable) as exc:
            await client.list_worker_groups()
    assert not isinstance(exc.value, DolphinTimeout)
    assert "ServerDisconnectedError" in exc.value.detail


async def test_truncated_body_is_unavailable(truncating_server: str) -> None:
    async with _client(truncating_server) as client:
        with pytest.raises(DolphinUnavailable) as exc:
            await client.list_worker_groups()
    assert not isinstance(exc.value, DolphinTimeout)


async def test_silent_server_times_out(silent_server: str) -> None:
    async with _client(silent_server, read_timeout=0.3) as client:
        with pytest.raises(DolphinTimeout):
            await client.list_worker_groups()


async def test_refused_connection_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    async with _client(f"http://127.0.0.1:{port}/dolphinscheduler") as client:
        with pytest.raises(DolphinUnavailable) as exc:
            await client.list_worker_groups()
    assert not isinstance(exc.value, DolphinTimeout)


async def test_urls_and_query_are_what_httpx_params_give() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"code": 0, "data": []})

    params = {"pageNo": 1, "searchVal": "a b&c%41/ü", "flag": True, "skipped": None}
    for base in ("http://ds:1/dolphinscheduler", "http://ds:1/dolphinscheduler/"):
        async with DolphinRestClient.create(base, SecretStr("t"), fake=httpx.MockTransport(handler)) as client:
            await client._get("/projects/{p}/workflow-instances", path={"p": 5}, params=params)
            await client._get("/worker-groups/all", params={"skipped": None})
            await client._get("/worker-groups/all")
    async with httpx.AsyncClient(base_url="http://ds:1/dolphinscheduler", transport=httpx.MockTransport(handler)) as h:
        await h.get("/projects/5/workflow-instances", params={"pageNo": "1", "searchVal": "a b&c%41/ü", "flag": "true"})
        await h.get("/worker-groups/all")
    expected = seen[-2:]
    assert seen[:-2] == [expected[0], expected[1], expected[1]] * 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-02 03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-1-2 3:4:5", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),  # strptime's lenient digits
        ("2024-01-02T03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        # 19 characters with a space at 10, but with an offset: kept, not forced to UTC
        ("2024-01-02 12:00+01", datetime(2024, 1, 2, 11, 0, tzinfo=UTC)),
        ("2024-01-02T03:04:05+02:00", datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)),
    ],
)
def test_ds_dates_parse_as_before(value: str, expected: datetime) -> None:
    parsed = parse_ds_datetime(value)
    assert parsed is not None
    assert parsed.tzinfo is not None
    assert parsed == expected  # the same instant


def test_impossible_ds_date_is_refused() -> None:
    with pytest.raises(ValueError, match=r"day is out of range|Invalid isoformat"):
        parse_ds_datetime("2024-02-30 00:00:00")


@pytest.fixture
async def recording_server() -> AsyncIterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    """Answers every request with a DS success envelope and records (request line, headers, body)."""
    seen: list[tuple[str, dict[str, str], bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            line, *lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines if x)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            seen.append((line, headers, body))
            answer = b'{"code":0,"msg":"success","data":["default"]}'
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(answer)
            )
            writer.write(answer)
            await writer.drain()
        writer.close()

    async for url in _server(handler):
        yield url, seen


async def test_the_request_on_the_wire(
    recording_server: tuple[str, list[tuple[str, dict[str, str], bytes]]],
) -> None:
    url, seen = recording_server
    async with _client(url) as client:
        assert await client.list_worker_groups() == ["default"]
        await client._get("/projects/{p}/workflow-instances", path={"p": 5}, params={"searchVal": "a b&ü"})
        await client._post("/projects/{p}/schedules/{id}/online", path={"p": 5, "id": 9}, form={"x": "1 2"})
        await client._post("/projects/{p}/schedules/{id}/offline", path={"p": 5, "id": 9}, form={})
    wire = [(line, h.get("token"), h.get("content-type") if body else None, body) for line, h, body in seen]
    assert wire[0] == ("GET /dolphinscheduler/worker-groups/all HTTP/1.1", "t", None, b"")
    assert wire[1][0] == "GET /dolphinscheduler/projects/5/workflow-instances?searchVal=a+b%26%C3%BC HTTP/1.1"
    assert wire[2][1:] == ("t", "application/x-www-form-urlencoded", b"x=1+2")
    assert wire[3] == ("POST /dolphinscheduler/projects/5/schedules/9/offline HTTP/1.1", "t", None, b"")
    assert "user-agent" not in seen[0][1]  # nothing DS has a use for
    assert "accept-encoding" not in seen[0][1]


@pytest.mark.parametrize(
    ("envelope", "error", "text"),
    [
        ({"code": 10113, "msg": "query failed", "data": None}, DolphinApiError, "query failed"),
        ({"code": 0, "msg": "success", "data": None}, DolphinUnavailable, "cannot read"),
        ({"code": 0, "msg": "success", "data": {"totalList": [{"id": "x"}]}}, DolphinUnavailable, "cannot read"),
        ({"msg": "no code"}, DolphinUnavailable, "without the DS envelope"),
    ],
)
async def test_the_instance_list_fast_parse_falls_back_to_the_same_errors(
    envelope: dict[str, object], error: type[Exception], text: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=envelope)

    fake = httpx.MockTransport(handler)
    async with DolphinRestClient.create(
        "http://ds:1/dolphinscheduler", SecretStr("t"), fake=fake, read_attempts=1
    ) as client:
        with pytest.raises(error, match=text):
            await client.list_workflow_instances(1, workflow_code=2)


async def test_the_instance_list_fast_parse_reads_what_the_general_parse_reads() -> None:
    data = {
        "totalList": [
            {"id": 3, "state": "FAILURE", "startTime": "2025-01-02 03:04:05", "endTime": "2025-01-02 03:05:05",
             "commandType": "SCHEDULER", "runTimes": 2, "host": "h:5678", "duration": "1m", "unknownField": [1]},
            {"id": 2, "state": "RUNNING_EXECUTION", "startTime": "2025-01-02T03:00:00", "endTime": None},
        ],
        "total": 2, "totalPage": 1, "pageSize": 10, "currentPage": 1, "pageNo": 0,
    }  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": 0, "msg": "success", "data": data})

    fake = httpx.MockTransport(handler)
    async with DolphinRestClient.create("http://ds:1/dolphinscheduler", SecretStr("t"), fake=fake) as client:
        page = await client.list_workflow_instances(1, workflow_code=2)
    assert page == Page[WorkflowInstance].model_validate(data)
    assert page.total_list[0].end_time == datetime(2025, 1, 2, 3, 5, 5, tzinfo=UTC)


async def test_the_digested_instance_list_reads_a_page_only_when_its_bytes_changed() -> None:
    entry = {"id": 3, "state": "SUCCESS", "startTime": "2025-01-02 03:04:05", "endTime": "2025-01-02 03:05:05"}
    bodies = [
        {"code": 0, "msg": "success", "data": {"totalList": [entry], "total": 1}},
        {"code": 0, "msg": "success", "data": {"totalList": [entry], "total": 1}},
        {"code": 0, "msg": "success", "data": {"totalList": [{**entry, "state": "FAILURE"}], "total": 1}},
        {"code": 10113, "msg": "query failed", "data": None},
    ]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=bodies[len(seen) - 1])

    fake = httpx.MockTransport(handler)
    async with DolphinRestClient.create(
        "http://ds:1/dolphinscheduler", SecretStr("t"), fake=fake, read_attempts=1
    ) as client:
        first = await client.list_workflow_instances_digested(1, 2, page_size=10)
        assert first.data is not None
        assert [i.id for i in first.data.total_list] == [3]
        assert len(first.digest) == 16
        same = await client.list_workflow_instances_digested(1, 2, page_size=10, known_digest=first.digest)
        assert (same.digest, same.data) == (first.digest, None)  # the same bytes: not parsed again
        changed = await client.list_workflow_instances_digested(1, 2, page_size=10, known_digest=first.digest)
        assert changed.digest != first.digest
        assert changed.data is not None
        assert changed.data.total_list[0].state.value == "FAILURE"
        with pytest.raises(DolphinApiError, match="query failed"):  # an error is an error whatever digest is known
            await client.list_workflow_instances_digested(1, 2, page_size=10, known_digest=first.digest)
    assert (
        seen[0]
        == "http://ds:1/dolphinscheduler/projects/1/workflow-instances?pageNo=1&pageSize=10&workflowDefinitionCode=2"
    )


async def test_the_digested_instance_list_reads_unreadable_data_as_the_plain_list_does() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": 0, "msg": "success", "data": None})

    fake = httpx.MockTransport(handler)
    async with DolphinRestClient.create(
        "http://ds:1/dolphinscheduler", SecretStr("t"), fake=fake, read_attempts=1
    ) as client:
        with pytest.raises(DolphinUnavailable, match="cannot read"):
            await client.list_workflow_instances_digested(1, 2, known_digest=b"\0" * 16)


@pytest.mark.parametrize(
    "params",
    [
        {"pageNo": 1, "pageSize": 10, "workflowDefinitionCode": 123456789012345678},
        {"a": -5, "b": None, "c": True, "d": False, "e": "x y&ü=/?", "f": 1.5, "g": 1e20, "h i": "a+b", "j": 0},
        [("k", 1), ("k", "2"), ("l", None)],
    ],
)
def test_query_string_encodes_as_urlencode_does(params: Any) -> None:
    items = params.items() if isinstance(params, dict) else params
    expected = urlencode(
        [(k, ("true" if v else "false") if isinstance(v, bool) else str(v)) for k, v in items if v is not None]
    )
    assert query_string(params) == expected
