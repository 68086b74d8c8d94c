"""The internal HTTP client: one service's calls to another over :class:`~common.transport.HttpTransport`.

One mapping of outcomes to errors, naming the service in words and never its URL:
- a JSON answer below 300 is returned parsed (``None`` for 204);
- a problem answer (RFC 9457 JSON, 4xx/5xx) raises :class:`UpstreamProblem` with its status and body (the gateway
  passes it on), or, for a client made with ``problems="ours"``, the error of ours it stands for (:func:`ours`):
  404 ``NotFound``, 5xx ``UpstreamUnavailable``, another 4xx ``DomainError``;
- 502/503/504 without a problem body, a refused or dropped connection: ``UpstreamUnavailable``; no answer within the
  call's budget (``asyncio.timeout`` around the whole exchange): ``UpstreamTimeout``;
- anything else (HTML from a proxy, bad JSON): :class:`BadUpstreamAnswer`.
Nothing is retried here: the caller knows whether its call is idempotent (``common.retry``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import httpx
from prometheus_client import Histogram
from pydantic_core import from_json, to_json

from common import deadline
from common.errors import DomainError, NotFound, PlatformError, TransientError, UpstreamTimeout, UpstreamUnavailable
from common.http import CLIENT_IDLE_S
from common.transport import HttpTransport, QueryValue, error_name, query_string, transport_failure

log = logging.getLogger(__name__)

JSON_HEADERS = {"Content-Type": "application/json"}

Params = Mapping[str, QueryValue] | Sequence[tuple[str, QueryValue]]


class UpstreamProblem(Exception):
    """A service answered with a problem (its status and body; the gateway passes them through)."""

    def __init__(self, service: str, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{service} answered {status}: {body.get('detail', '')}")
        self.service = service
        self.status = status
        self.body = body


class BadUpstreamAnswer(TransientError):
    """A service answered something that is neither its contract nor a problem (HTML from a proxy, bad JSON)."""

    status = 502
    code = "bad-upstream-answer"
    title = "Bad answer from a service"


def ours(problem: UpstreamProblem, label: str) -> PlatformError:
    """The error of ours a service's problem answer stands for, with its detail."""
    detail = f"{label} answered {problem.status}: {problem.body.get('detail') or problem.body.get('title')}"
    if problem.status == 404:
        return NotFound(detail)
    if problem.status >= 500:
        return UpstreamUnavailable(detail, service=problem.service)
    return DomainError(detail)


#: a service's own identity token for the callee (``common.identity.Signer.token`` for one audience)
ServiceToken = Callable[[], str]


class Upstream:
    """One service: its transport, its name in words (``label``, e.g. "history service") and its time budget per call.
    ``identity``: this service's own token for the callee (``Authorization: Bearer``); ``problems``: whether a
    problem answer is raised as it came (``pass``) or as ours; ``metric``: a histogram labelled (upstream, outcome)
    that times every call."""

    def __init__(
        self,
        name: str,
        http: HttpTransport,
        *,
        timeout_s: float,
        label: str | None = None,
        identity: ServiceToken | None = None,
        problems: Literal["pass", "ours"] = "pass",
        metric: Histogram | None = None,
    ) -> None:
        self.name = name
        self.label = label or f"{name} service"
        self.http = http
        self.timeout_s = timeout_s
        self._identity = identity
        self._problems = problems
        self._metric = metric

    @classmethod
    def at(
        cls,
        name: str,
        base_url: str,
        *,
        timeout_s: float,
        max_connections: int = 8,
        identity: ServiceToken | None = None,
        problems: Literal["pass", "ours"] = "ours",
        fake: httpx.AsyncBaseTransport | None = None,
    ) -> Upstream:
        """A service's own client of another service (its identity, problems raised as ours)."""
        http = cls.transport(base_url, timeout_s=timeout_s, max_connections=max_connections, fake=fake)
        return cls(name, http, timeout_s=timeout_s, identity=identity, problems=problems)

    @staticmethod
    def transport(
        base_url: str, *, timeout_s: float, max_connections: int, fake: httpx.AsyncBaseTransport | None = None
    ) -> HttpTransport:
        """Keep-alive connections to a service (idle ones closed before the service closes them, common.http)."""
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 2.0))
        return HttpTransport(
            base_url, timeout=timeout, max_connections=max_connections, keepalive_s=CLIENT_IDLE_S, fake=fake
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        timeout_s: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """One call within ``timeout_s`` (default: the service's budget, cut at the request's deadline), which the
        callee learns from the deadline header; returns the parsed answer or raises as the module says."""
        budget = timeout_s if timeout_s is not None else self.timeout_s
        send_headers = {**(headers or {}), deadline.HEADER: deadline.header_value(budget)}
        if self._identity is not None:
            send_headers["Authorization"] = f"Bearer {self._identity()}"
        content = None
        if body is not None:
            content = to_json(body)
            send_headers.update(JSON_HEADERS)
        url = self.http.url(path, query_string(params))
        started = time.perf_counter()
        outcome = "ok"
        try:
            try:
                async with asyncio.timeout(budget):
                    status, answer = await self.http.send(
                        method,
                        url,
                        content=content,
                        headers=send_headers,
                        timeout=httpx.Timeout(budget, connect=min(budget, 2.0)),
                    )
            except Exception as exc:
                failure = transport_failure(exc)
                if failure is None:
                    raise
                outcome = failure
                if failure == "timeout":
                    log.warning("%s did not answer within %.3g s", self.label, budget, extra={"upstream": self.name})
                    raise UpstreamTimeout(
                        f"{self.label} did not answer within {budget:g} s", service=self.name
                    ) from None
                log.warning("%s is unavailable: %s", self.label, error_name(exc), extra={"upstream": self.name})
                raise UpstreamUnavailable(f"{self.label} is unavailable", service=self.name) from None
            return self.answer(status, answer)
        except UpstreamProblem as problem:
            outcome = "problem"
            if self._problems == "ours":
                raise ours(problem, self.label) from None
            raise
        except UpstreamUnavailable:
            outcome = "unavailable"
            raise
        except BadUpstreamAnswer:
            outcome = "bad_answer"
            raise
        finally:
            if self._metric is not None:
                self._metric.labels(self.name, outcome).observe(time.perf_counter() - started)

    def answer(self, status: int, content: bytes) -> Any:
        if status == 204:
            return None
        try:
            data = from_json(content) if content else None
        except ValueError:
            data = None
        if status < 300 and data is not None:
            return data
        if status >= 400 and isinstance(data, dict) and isinstance(data.get("status"), int) and "title" in data:
            raise UpstreamProblem(self.name, status, data)
        if status in (502, 503, 504):
            raise UpstreamUnavailable(f"{self.label} is unavailable (HTTP {status})", service=self.name)
        raise BadUpstreamAnswer(
            f"{self.label} answered HTTP {status} with an unexpected body", service=self.name, upstream_status=status
        )

    async def aclose(self) -> None:
        await self.http.aclose()
