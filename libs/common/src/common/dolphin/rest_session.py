"""The DS REST client's session: one :class:`~common.transport.HttpTransport`, the access token, the DS envelope.

- v1 endpoints take form/query parameters; the access token goes in the ``token`` header (never in a URL).
- The DS envelope ``{code, msg, data}`` is unwrapped: ``code == 0`` gives ``data``; anything else raises
  the mapped error from :mod:`common.dolphin.errors` with DS's code and message.
- 401 (empty body) -> ``DolphinAuthError``; 5xx, timeouts and transport errors -> transient errors.
- Only GETs are retried (``common.retry``: bounded, exponential backoff with jitter, within the request's deadline);
  release/start/create are never retried because a dropped answer does not tell whether DS applied them.
- Every HTTP attempt is counted in ``ds_calls_total`` / ``ds_call_duration_seconds`` with the route template.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar

import httpx
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError

from common import deadline
from common.dolphin.errors import (
    DolphinAuthError,
    DolphinError,
    DolphinHttpError,
    DolphinTimeout,
    DolphinUnavailable,
    api_error_for,
)
from common.dolphin.metrics import observe_call
from common.errors import PlatformError, TransientError
from common.retry import retrying
from common.transport import HttpTransport, error_name, query_string, transport_failure

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)

Params = Mapping[str, str | int | float | bool | None]

D = TypeVar("D")


class Success(BaseModel, Generic[D]):
    """A DS success envelope (``code`` 0) with its ``data`` read as ``D``; other fields ignored."""

    code: Literal[0]
    data: D


def body_digest(body: bytes) -> bytes:
    """16 bytes that tell one answer body from another (BLAKE2b; a read compares it with the last one it parsed)."""
    return hashlib.blake2b(body, digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class Digested(Generic[D]):
    """A read's answer with the digest of its body (:func:`body_digest`). ``data`` is ``None`` when the digest is
    the ``known`` one the caller gave: the body is byte for byte one it parsed before (a success envelope, since
    a caller only keeps the digest of one), so it is not parsed again."""

    digest: bytes
    data: D | None


class DolphinRestSession:
    """Sends DS calls over one :class:`HttpTransport` whose base URL ends with ``/dolphinscheduler``."""

    def __init__(
        self,
        http: HttpTransport,
        token: SecretStr,
        *,
        read_attempts: int = 3,
        backoff_initial: float = 0.2,
        backoff_max: float = 2.0,
        owns_client: bool = False,
    ) -> None:
        if read_attempts < 1:
            raise ValueError("read_attempts must be >= 1")
        self._http = http
        self._token = token
        self._read_attempts = read_attempts
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._owns_client = owns_client

    @classmethod
    def create(
        cls,
        base_url: str,
        token: SecretStr,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_connections: int = 20,
        read_attempts: int = 3,
        backoff_initial: float = 0.2,
        backoff_max: float = 2.0,
        fake: httpx.AsyncBaseTransport | None = None,
    ) -> Self:
        """A client that owns its transport (closed by :meth:`aclose`); ``fake``: a fake DS, in tests."""
        http = HttpTransport(base_url, timeout=timeout, max_connections=max_connections, fake=fake)
        return cls(
            http,
            token,
            read_attempts=read_attempts,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            owns_client=True,
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._http.base_url!r})"

    # ----------------------------------------------------------------------------------------------------
    # Transport

    async def _call(
        self,
        method: str,
        template: str,
        *,
        path: Mapping[str, int | str] | None = None,
        params: Params | None = None,
        form: Params | None = None,
        headers: Mapping[str, str] | None = None,
        success: TypeAdapter[Success[Any]] | None = None,
        digest: bool = False,
        known_digest: bytes | None = None,
    ) -> Any:
        """One DS call; returns the envelope's ``data``. GETs are retried on transient errors.

        ``success``: the answer read straight from its bytes (pydantic's JSON parser) when it is a success envelope
        whose ``data`` that model reads; the parsed ``data`` is returned. Anything else takes the general path (so
        the errors are the same), which returns the raw ``data``.

        ``digest``: returns a :class:`Digested` of the answer instead, whose ``data`` is ``None`` when the body's
        digest is ``known_digest`` (HTTP errors raise as always; a body that differs is read as above)."""
        url = template.format(**(path or {}))
        attempts = self._read_attempts if method == "GET" else 1
        request_headers = {"token": self._token.get_secret_value()} if headers is None else dict(headers)
        reading = _Digesting(known_digest) if digest else None
        try:  # the first attempt outside the retry machinery: most calls succeed, and a cycle makes thousands
            return await self._observed(method, url, template, params, form, request_headers, success, reading)
        except TransientError as exc:
            if attempts == 1:
                raise
            failed: TransientError | None = exc

        def on_retry(exc: BaseException, attempt: int, delay: float) -> None:
            code = exc.code if isinstance(exc, PlatformError) else type(exc).__name__
            retry = "DS %s %s attempt %d/%d failed (%s); retrying in %.2fs"
            logger.warning(retry, method, template, attempt, attempts, code, delay)

        retries = retrying(
            attempts=attempts,
            initial_s=self._backoff_initial,
            max_s=self._backoff_max,
            jitter="scaled",
            retry_on=lambda exc: isinstance(exc, TransientError),
            on_retry=on_retry,
            time_left=deadline.remaining,  # no attempt the caller would not wait for
        )
        async for attempt in retries:
            with attempt:
                if failed is not None:  # the first attempt's failure, counted as the policy's first attempt
                    first, failed = failed, None
                    raise first
                return await self._observed(method, url, template, params, form, request_headers, success, reading)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _observed(
        self,
        method: str,
        url: str,
        template: str,
        params: Params | None,
        form: Params | None,
        headers: Mapping[str, str],
        success: TypeAdapter[Success[Any]] | None,
        reading: _Digesting | None = None,
    ) -> Any:
        """One attempt within the request's deadline, counted in the DS call metrics."""
        started = time.perf_counter()
        outcome = "error"
        try:
            try:
                if deadline.remaining() is None:  # no deadline (a sync cycle's calls): no cancel scope to set up
                    data = await self._attempt(method, url, template, params, form, headers, success, reading)
                else:
                    async with deadline.cut():
                        data = await self._attempt(method, url, template, params, form, headers, success, reading)
            except deadline.DeadlineExceeded:
                raise DolphinTimeout(
                    f"DolphinScheduler {method} {template} did not answer before the request's deadline"
                ) from None
            outcome = "ok"
            return data
        except PlatformError as exc:
            outcome = outcome_of(exc)
            raise
        finally:
            observe_call("rest", template, outcome, time.perf_counter() - started)

    async def _attempt(
        self,
        method: str,
        url: str,
        template: str,
        params: Params | None,
        form: Params | None,
        headers: Mapping[str, str],
        success: TypeAdapter[Success[Any]] | None = None,
        reading: _Digesting | None = None,
    ) -> Any:
        absolute = self._http.url(url, query_string(params))
        send_headers = dict(headers)
        content = None
        if form is not None:
            content = query_string(form).encode()
            send_headers["content-type"] = "application/x-www-form-urlencoded"
        try:
            status, body = await self._http.send(method, absolute, content=content, headers=send_headers)
        except Exception as exc:
            failure = transport_failure(exc)
            if failure is None:
                raise
            name = error_name(exc)
            if failure == "timeout":
                raise DolphinTimeout(f"DolphinScheduler {method} {template} timed out ({name})") from None
            raise DolphinUnavailable(f"DolphinScheduler {method} {template} failed: {name}") from None
        if status == 401:
            # DS answers 401 with an empty body: never JSON-decode it.
            raise DolphinAuthError(f"DolphinScheduler refused the access token ({method} {template})")
        if status >= 500:
            raise DolphinUnavailable(f"DolphinScheduler {method} {template} answered HTTP {status}", http_status=status)
        if status >= 400:
            raise DolphinHttpError(status, endpoint=f"{method} {template}")
        if reading is not None:
            digest = body_digest(body)
            if digest == reading.known:
                return Digested(digest, None)
            return Digested(digest, self._unwrap(method, template, status, body, success))
        return self._unwrap(method, template, status, body, success)

    @staticmethod
    def _unwrap(method: str, template: str, status: int, body: bytes, success: TypeAdapter[Success[Any]] | None) -> Any:
        """The ``data`` of a DS envelope (read by ``success`` when it can), or the mapped error."""
        if success is not None:
            try:
                return success.validate_json(body).data
            except ValidationError:
                pass  # not a success envelope with data the model reads: the general path says what it is
        try:
            envelope = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise DolphinUnavailable(
                f"DolphinScheduler {method} {template} answered HTTP {status} with a body that is not JSON"
            ) from None
        if not isinstance(envelope, dict) or "code" not in envelope:
            raise DolphinUnavailable(f"DolphinScheduler {method} {template} answered without the DS envelope")
        code = envelope.get("code")
        if code == 0:
            return envelope.get("data")
        ds_code = int(code) if isinstance(code, int | str) and str(code).lstrip("-").isdigit() else -1
        raise api_error_for(ds_code, str(envelope.get("msg") or ""), endpoint=f"{method} {template}")

    async def _get(self, template: str, **kwargs: Any) -> Any:
        return await self._call("GET", template, **kwargs)

    async def _post(self, template: str, **kwargs: Any) -> Any:
        return await self._call("POST", template, **kwargs)

    async def _put(self, template: str, **kwargs: Any) -> Any:
        return await self._call("PUT", template, **kwargs)

    @staticmethod
    def _parse(model: type[M], data: Any, endpoint: str) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise DolphinUnavailable(
                f"DolphinScheduler {endpoint} answered data we cannot read ({exc.error_count()} errors)"
            ) from None

    @staticmethod
    def _parse_as(adapter: TypeAdapter[Any], data: Any, endpoint: str) -> Any:
        try:
            return adapter.validate_python(data)
        except ValidationError as exc:
            raise DolphinUnavailable(
                f"DolphinScheduler {endpoint} answered data we cannot read ({exc.error_count()} errors)"
            ) from None


@dataclass(frozen=True, slots=True)
class _Digesting:
    """A call that returns a :class:`Digested` (``known``: the digest whose body need not be read again)."""

    known: bytes | None


def outcome_of(exc: BaseException) -> str:
    """The ``outcome`` label for a failed call."""
    if isinstance(exc, DolphinAuthError):
        return "unauthorized"
    if isinstance(exc, DolphinTimeout):
        return "timeout"
    if isinstance(exc, DolphinUnavailable):
        return "unavailable"
    if isinstance(exc, DolphinError):
        return "ds_error"
    return "error"
