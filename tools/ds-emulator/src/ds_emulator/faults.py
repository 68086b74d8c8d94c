"""Fault injection rules shared by the REST app and the gateway proxy.

A rule matches REST calls by a regular expression on the path below ``/dolphinscheduler`` (and optionally the HTTP
method), or gateway calls by a regular expression on the Java method name. Actions:

REST: ``latency`` (add ``latency_ms`` then answer normally), ``ds_error`` (HTTP 200 envelope with ``ds_code``),
``http_status`` (e.g. 500/503 with a small text body), ``unauthorized`` (401, empty body), ``hang`` (never answer
until reset or ``hang_seconds``), ``drop`` (close the socket without answering).

Gateway: ``latency``, ``hang`` and ``close`` (drop the py4j connection instead of forwarding the command) act in the
TCP proxy; ``raise`` makes the Java side throw with ``message``; ``refuse`` stops the gateway listener (connection
refused) while the rule is active.

``times`` limits how often a rule fires (``None`` = always).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field
from typing import Literal

Target = Literal["rest", "gateway"]
Action = Literal["latency", "ds_error", "http_status", "unauthorized", "hang", "drop", "raise", "close", "refuse"]

REST_ACTIONS = {"latency", "ds_error", "http_status", "unauthorized", "hang", "drop"}
GATEWAY_ACTIONS = {"latency", "hang", "close", "raise", "refuse"}


@dataclass
class FaultRule:
    target: Target
    action: Action
    match: str = ".*"
    method: str | None = None
    latency_ms: float = 0.0
    ds_code: int = 10000
    ds_msg: str | None = None
    status: int = 500
    message: str = "injected fault"
    hang_seconds: float = 300.0
    times: int | None = None
    id: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        allowed = REST_ACTIONS if self.target == "rest" else GATEWAY_ACTIONS
        if self.action not in allowed:
            raise ValueError(f"action {self.action!r} is not valid for target {self.target!r}")
        self._pattern = re.compile(self.match)

    def matches(self, target: Target, name: str, method: str | None = None) -> bool:
        if self.target != target or (self.times is not None and self.times <= 0):
            return False
        if self.method is not None and method is not None and self.method.upper() != method.upper():
            return False
        return self._pattern.search(name) is not None

    def describe(self) -> dict[str, object]:
        return {
            "id": self.id,
            "target": self.target,
            "action": self.action,
            "match": self.match,
            "method": self.method,
            "latencyMs": self.latency_ms,
            "dsCode": self.ds_code,
            "status": self.status,
            "times": self.times,
        }


class Faults:
    """The active rules, plus a global latency applied to every REST and gateway call (benchmarks)."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self.global_latency_ms = 0.0
        self._next_id = 1
        self.released = asyncio.Event()
        self.on_change: list[asyncio.Event] = []

    def add(self, rule: FaultRule) -> FaultRule:
        rule.id = self._next_id
        self._next_id += 1
        self.rules.append(rule)
        self._changed()
        return rule

    def clear(self) -> None:
        self.rules.clear()
        self.global_latency_ms = 0.0
        # wake every hanging request, then arm a fresh event for the next hangs
        self.released.set()
        self.released = asyncio.Event()
        self._changed()

    def _changed(self) -> None:
        for event in self.on_change:
            event.set()

    def take(
        self, target: Target, name: str, method: str | None = None, *, actions: frozenset[str] | None = None
    ) -> list[FaultRule]:
        """The rules with one of ``actions`` that fire for this call (each one's ``times`` is consumed)."""
        fired = []
        for rule in self.rules:
            if rule.action == "refuse" or (actions is not None and rule.action not in actions):
                continue
            if rule.matches(target, name, method):
                if rule.times is not None:
                    rule.times -= 1
                fired.append(rule)
        return fired

    def gateway_refused(self) -> bool:
        return any(r.action == "refuse" and r.matches("gateway", "") for r in self.rules)

    async def hang(self, seconds: float) -> None:
        released = self.released
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(released.wait(), timeout=seconds)
