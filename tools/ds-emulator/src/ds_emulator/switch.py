"""SWITCH tasks when the emulator runs them: which branch DS 3.4.2's master takes.

DS 3.4.2 (``dolphinscheduler-master``'s ``SwitchLogicTask`` and ``SwitchTaskUtils``, read from the released jar's
bytecode) goes through ``switchResult.dependTaskList`` in order: each ``condition`` has every ``'`` replaced by ``"``,
then each ``${name}`` of a known parameter replaced by its value (bare for a number or boolean type, in double quotes
otherwise; an unknown one is left as it is), and is evaluated by a Nashorn JavaScript sandbox. The first case whose
result is the boolean ``true`` chooses its ``nextNode``; a case that cannot be evaluated counts as false. When none
holds the default ``nextNode`` runs, and without one the SWITCH task fails. ``SuccessorFlowAdjuster`` then skips every
branch target (the cases' and the default's) but the chosen one; a downstream task that no branch names runs anyway.

The emulator does the same with the workflow's global parameters (it has no var pool and ignores start parameters),
but evaluates a small part of JavaScript itself rather than running a JavaScript engine: number, string (double
quotes, after the ``'`` replacement), ``true``/``false``/``null`` literals; ``+ - * / %``; ``== != === !==`` and
``< <= > >=`` with JavaScript's conversions; ``! && ||`` and parentheses. Anything else (a name, a call, a regular
expression, a template) is an expression it cannot evaluate, which it counts as false, as DS counts an expression
Nashorn refuses; an expression DS evaluates but the emulator does not (``[1, 2].includes(${x})``, say) is where the
two differ.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

#: DS's ``ParameterUtils.isNumber``/``isBoolean`` types: their values are substituted bare, any other type quoted
_BARE_TYPES = frozenset({"INTEGER", "LONG", "FLOAT", "DOUBLE", "BOOLEAN"})
_PLACEHOLDER = re.compile(r"\$\{(.*?)\}")
_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<str>\"[^\"\\]*(?:\\.[^\"\\]*)*\")"
    r"|(?P<op>===|!==|==|!=|<=|>=|&&|\|\||[-+*/%<>!()])|(?P<word>[A-Za-z_$][\w$]*))"
)
_MAX_CONDITION = 8 * 1024
_MAX_DEPTH = 64


class Unevaluable(Exception):
    """A condition outside what the emulator evaluates (or not JavaScript at all): it does not hold."""


def global_params(text: str | None) -> dict[str, tuple[str, str]]:
    """The workflow's ``globalParams`` text as ``name -> (type, value)``."""
    try:
        items = json.loads(text or "[]")
    except ValueError:
        return {}
    out: dict[str, tuple[str, str]] = {}
    for p in items if isinstance(items, list) else ():
        if isinstance(p, dict) and isinstance(p.get("prop"), str):
            value = p.get("value")
            out[p["prop"]] = (str(p.get("type") or "VARCHAR").upper(), "" if value is None else str(value))
    return out


def substitute(condition: str, params: Mapping[str, tuple[str, str]]) -> str:
    """The condition as DS's ``SwitchTaskUtils.generateContentWithTaskParams`` hands it to the script engine."""
    content = condition.replace("'", '"')
    if not params:
        return content
    for name in _PLACEHOLDER.findall(content):
        if name in params:
            kind, value = params[name]
            content = content.replace("${" + name + "}", value if kind in _BARE_TYPES else f'"{value}"')
    return content


def holds(condition: str, params: Mapping[str, tuple[str, str]]) -> bool:
    """Whether a case's condition is ``true`` (DS: ``Boolean.TRUE.equals(result)``); unevaluable counts as false."""
    try:
        return _Parser(substitute(condition, params)).parse() is True
    except Unevaluable:
        return False


def branch(switch_params: Any, params: Mapping[str, tuple[str, str]]) -> tuple[int | None, set[int]]:
    """``(the task code the SWITCH task goes to or None when it fails, every branch target's code)``."""
    result = switch_params.get("switchResult") or {}
    cases = result.get("dependTaskList") or []
    targets = {int(c["nextNode"]) for c in cases if isinstance(c, dict) and c.get("nextNode") not in (None, "")}
    default = result.get("nextNode")
    default_code = None if default in (None, "") else int(default)
    if default_code is not None:
        targets.add(default_code)
    for case in cases:
        if isinstance(case, dict) and holds(str(case.get("condition") or ""), params):
            return int(case["nextNode"]), targets
    return default_code, targets


def _tokens(text: str) -> list[tuple[str, str]]:
    if len(text) > _MAX_CONDITION:
        raise Unevaluable("too long")
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise Unevaluable(f"cannot read {text[pos : pos + 20]!r}")
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _number(value: Any) -> float:
    """JavaScript's ``ToNumber`` for the values the parser makes."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, float):
        return value
    text = str(value).strip()
    if not text:
        return 0.0
    try:
        return float(text)
    except ValueError:
        return math.nan


def _truthy(value: Any) -> bool:
    if isinstance(value, float):
        return not (value == 0 or math.isnan(value))
    return bool(value)


def _loose_equal(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if type(a) is type(b):
        return bool(a == b)
    return _number(a) == _number(b)


def _strict_equal(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _compare(op: str, a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        x: Any = a
        y: Any = b
    else:
        x, y = _number(a), _number(b)
        if math.isnan(x) or math.isnan(y):
            return False
    return bool({"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op])


def _to_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


class _Parser:
    """Recursive descent over the JavaScript subset in the module's docstring, with JavaScript's precedence."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.depth = 0

    def parse(self) -> Any:
        if not self.tokens:
            raise Unevaluable("empty")
        value = self._or()
        if self.pos != len(self.tokens):
            raise Unevaluable("trailing tokens")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "op" else None

    def _binary(self, ops: tuple[str, ...], operand: Any, apply: Any) -> Any:
        value = operand()
        while (op := self._peek()) in ops:
            self.pos += 1
            value = apply(op, value, operand())
        return value

    def _or(self) -> Any:
        return self._binary(("||",), self._and, lambda _op, a, b: a if _truthy(a) else b)

    def _and(self) -> Any:
        return self._binary(("&&",), self._equality, lambda _op, a, b: b if _truthy(a) else a)

    def _equality(self) -> Any:
        def apply(op: str, a: Any, b: Any) -> bool:
            same = _strict_equal(a, b) if op in ("===", "!==") else _loose_equal(a, b)
            return same if op in ("==", "===") else not same

        return self._binary(("==", "!=", "===", "!=="), self._relational, apply)

    def _relational(self) -> Any:
        return self._binary(("<", "<=", ">", ">="), self._additive, _compare)

    def _additive(self) -> Any:
        def apply(op: str, a: Any, b: Any) -> Any:
            if op == "+" and (isinstance(a, str) or isinstance(b, str)):
                return _to_text(a) + _to_text(b)
            return _number(a) + _number(b) if op == "+" else _number(a) - _number(b)

        return self._binary(("+", "-"), self._multiplicative, apply)

    def _multiplicative(self) -> Any:
        def apply(op: str, a: Any, b: Any) -> float:
            x, y = _number(a), _number(b)
            if op == "*":
                return x * y
            if y == 0:
                if op == "%" or x == 0 or math.isnan(x):
                    return math.nan
                return math.copysign(math.inf, x) * math.copysign(1.0, y)
            return x / y if op == "/" else math.fmod(x, y)

        return self._binary(("*", "/", "%"), self._unary, apply)

    def _unary(self) -> Any:
        op = self._peek()
        if op in ("!", "-", "+"):
            self.pos += 1
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise Unevaluable("too deep")
            value = self._unary()
            self.depth -= 1
            if op == "!":
                return not _truthy(value)
            return -_number(value) if op == "-" else _number(value)
        return self._primary()

    def _primary(self) -> Any:
        if self.pos >= len(self.tokens):
            raise Unevaluable("unexpected end")
        kind, text = self.tokens[self.pos]
        self.pos += 1
        if kind == "num":
            return float(text)
        if kind == "str":
            try:
                value = json.loads(text)
            except ValueError as err:
                raise Unevaluable("bad string") from err
            return str(value)
        if kind == "word" and text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if kind == "op" and text == "(":
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise Unevaluable("too deep")
            value = self._or()
            self.depth -= 1
            if self._peek() != ")":
                raise Unevaluable("missing )")
            self.pos += 1
            return value
        raise Unevaluable(f"cannot evaluate {text!r}")
