"""The comparisons between what we send, read and emulate and what DS's jars say. Each returns the list of
differences (empty when we conform), so a test shows every problem at once and the harness's own tests can show
each comparison failing on a deliberate mismatch."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import Any

from .recording import GatewayCall, RestRequest

Json = dict[str, Any]

_NUMERIC = {"int", "long", "short", "java.lang.Integer", "java.lang.Long", "java.lang.Short"}
_PRIMITIVES = {"int", "long", "short", "byte", "char", "boolean", "double", "float"}
_INTEGER = re.compile(r"-?[0-9]+")


# ---------------------------------------------------------------------------------------------------------------
# REST


def _pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "$")


def match_mapping(controllers: Sequence[Json], method: str, path: str) -> tuple[Json, dict[str, str]] | None:
    """The controller method Spring would pick for ``method path``, with the path variables; the most specific
    pattern wins (fewest variables, then the longest literal text), as in Spring's ``AntPathMatcher``."""
    found: list[tuple[tuple[int, int], Json, dict[str, str]]] = []
    for c in controllers:
        if method not in c["http"]:
            continue
        for template in c["paths"]:
            m = _pattern(template).match(path)
            if m is not None:
                literal = len(re.sub(r"\{\w+\}", "", template))
                found.append(((template.count("{"), -literal), c, m.groupdict()))
    if not found:
        return None
    found.sort(key=lambda f: f[0])
    return found[0][1], found[0][2]


def _value_problem(name: str, value: str, param: Json) -> str | None:
    java = param["type"]
    if value == "" and java not in _PRIMITIVES:
        return None  # Spring binds an empty text to null for wrapper, enum and String types
    if java in _NUMERIC and not _INTEGER.fullmatch(value):
        return f"{name}={value!r} is not a number ({java})"
    if java in ("boolean", "java.lang.Boolean") and value not in ("true", "false"):
        return f"{name}={value!r} is not a boolean"
    constants = param.get("enumConstants")
    if constants is not None and value not in constants:
        return f"{name}={value!r} is not one of {java.rsplit('.', 1)[-1]} {constants}"
    return None


def check_rest_requests(controllers: Sequence[Json], requests: Iterable[RestRequest]) -> list[str]:
    """Every request goes to a controller method with that HTTP method and path, sends only its parameters, sends
    every required one, and sends values its parameter types take."""
    problems: list[str] = []
    for r in requests:
        where = f"{r.client_method}: {r.method} {r.path}"
        matched = match_mapping(controllers, r.method, r.path)
        if matched is None:
            problems.append(f"{where}: no controller method has this HTTP method and path")
            continue
        mapping, variables = matched
        params = {p["name"]: p for p in mapping["params"] if p["source"] == "RequestParam"}
        paths = {p["name"]: p for p in mapping["params"] if p["source"] == "PathVariable"}
        target = f"{mapping['controller']}.{mapping['method']}"
        for name in sorted(set(r.params) - set(params)):
            problems.append(f"{where}: sends {name!r}, which {target} does not take (takes {sorted(params)})")
        for name in sorted(n for n, p in params.items() if p["required"] and n not in r.params):
            problems.append(f"{where}: does not send {name!r}, which {target} requires")
        for name, value in r.params.items():
            if name in params and (problem := _value_problem(name, value, params[name])) is not None:
                problems.append(f"{where}: {problem}")
        for name, value in variables.items():  # a path variable the method does not bind is only matched
            if name in paths and (problem := _value_problem(name, value, paths[name])) is not None:
                problems.append(f"{where}: {problem}")
    return problems


def check_emulator_routes(
    controllers: Sequence[Json], routes: Iterable[tuple[str, str, str, int]], status: Sequence[Json]
) -> list[str]:
    """Each emulator route (method, path template, ``@ApiException`` status name, HTTP status) is a DS controller
    method with that status and ``@ResponseStatus``; the status name exists in the Status table."""
    names = {s["name"] for s in status}
    problems: list[str] = []
    for method, template, api_status, http_status in routes:
        probe = re.sub(r"\{\w+\}", "1", template)
        matched = match_mapping(controllers, method, probe)
        if matched is None:
            problems.append(f"emulator route {method} {template}: DS has no such endpoint")
            continue
        mapping = matched[0]
        target = f"{mapping['controller']}.{mapping['method']}"
        if mapping["apiException"] != api_status:
            problems.append(f"emulator route {method} {template}: @ApiException {api_status}, DS {target} has "
                            f"{mapping['apiException']}")  # fmt: skip
        expected_http = 201 if mapping["responseStatus"] == "CREATED" else 200
        if http_status != expected_http:
            problems.append(f"emulator route {method} {template}: HTTP {http_status}, DS {target} answers "
                            f"{expected_http} ({mapping['responseStatus']})")  # fmt: skip
        if api_status not in names:
            problems.append(f"emulator route {method} {template}: {api_status} is not a DS Status")
    return problems


# ---------------------------------------------------------------------------------------------------------------
# Gateway


def _java_accepts(java: str, value: Any) -> bool:
    """Whether py4j can pass this Python value to a Java parameter of this type."""
    if value is None:
        return java not in _PRIMITIVES
    if isinstance(value, bool):
        return java in ("boolean", "java.lang.Boolean")
    if isinstance(value, int):
        return java in _NUMERIC
    if isinstance(value, str):
        return java == "java.lang.String"
    return False


def _corresponds(sent: Any, meant: Any) -> bool:
    if isinstance(meant, Enum):
        return sent in (meant.value, getattr(meant, "ds_code", object()))
    return bool(sent == meant)


def check_gateway_calls(gateway: Sequence[Json], calls: Iterable[GatewayCall]) -> list[str]:
    """Each call names a public ``PythonGateway`` method with that many parameters, each argument fits its Java
    parameter's type, and the argument meant for a Java parameter (by name) is passed at that parameter's place."""
    by_name: dict[str, list[Json]] = {}
    for m in gateway:
        by_name.setdefault(m["name"], []).append(m)
    problems: list[str] = []
    for call in calls:
        where = f"{call.client_method}: {call.java_method}{call.args!r}"
        overloads = [m for m in by_name.get(call.java_method, []) if len(m["parameterTypes"]) == len(call.args)]
        if not overloads:
            arities = sorted(len(m["parameterTypes"]) for m in by_name.get(call.java_method, []))
            problems.append(f"{where}: PythonGateway has no {call.java_method} with {len(call.args)} parameters "
                            f"(has {arities or 'none'})")  # fmt: skip
            continue
        java = overloads[0]
        for name in java["parameterNames"]:
            if name not in call.meant:
                problems.append(f"{where}: none of the client's arguments is meant for the Java parameter {name!r}")
        for i, (value, java_type) in enumerate(zip(call.args, java["parameterTypes"], strict=True)):
            java_name = java["parameterNames"][i]
            if not _java_accepts(java_type, value):
                problems.append(f"{where}: argument {i + 1} ({java_name}: {java_type}) gets {value!r}")
            if java_name in call.meant and not _corresponds(value, call.meant[java_name]):
                problems.append(f"{where}: argument {i + 1} is {java_name} in Java, but the client passes {value!r} "
                                f"there (its {java_name} is {call.meant[java_name]!r})")  # fmt: skip
    return problems


def check_gateway_signatures(ours: Sequence[Json], gateway: Sequence[Json]) -> list[str]:
    """Every public method of ours (the emulator's Java gateway) has DS's name, parameter types and order."""
    theirs = {(m["name"], tuple(m["parameterTypes"])) for m in gateway}
    return [
        f"{m['name']}({', '.join(m['parameterTypes'])}) is not a PythonGateway method"
        for m in ours
        if (m["name"], tuple(m["parameterTypes"])) not in theirs
    ]


# ---------------------------------------------------------------------------------------------------------------
# Status table, enums


def check_status_table(status: Sequence[Json], ours: Mapping[str, tuple[int, str]]) -> list[str]:
    """Every (name, code, message) of ours is DS's Status constant of that name."""
    theirs = {s["name"]: (s["code"], s["enMsg"]) for s in status}
    problems = []
    for name, entry in ours.items():
        if name not in theirs:
            problems.append(f"{name} is not a DS Status")
        elif tuple(entry) != theirs[name]:
            problems.append(f"{name}: ours {tuple(entry)!r}, DS {theirs[name]!r}")
    return problems


def check_status_codes(status: Sequence[Json], ours: Mapping[str, int]) -> list[str]:
    theirs = {s["name"]: s["code"] for s in status}
    return [
        f"{name}: ours {code}, DS {theirs.get(name, 'no such Status')}"
        for name, code in ours.items()
        if theirs.get(name) != code
    ]


def check_enum(label: str, constants: Sequence[Json], ours: Mapping[str, int | None]) -> list[str]:
    """Each of our names exists in DS's enum with the same ``code`` (DS's int; its ordinal when it has none)."""
    theirs = {c["name"]: c["ordinal"] if c["code"] is None else c["code"] for c in constants}
    problems = []
    for name, code in ours.items():
        if name not in theirs:
            problems.append(f"{label}.{name} does not exist in DS (DS has {sorted(theirs)})")
        elif code is not None and code != theirs[name]:
            problems.append(f"{label}.{name}: ours {code}, DS {theirs[name]}")
    return problems


def check_referenced_names(label: str, references: Sequence[Json], ours: Iterable[str]) -> list[str]:
    """For an enum whose module is not served: every constant DS's served code uses is one we know."""
    used = {r["name"] for r in references if r["kind"] == "field" and r["descriptor"].startswith("L")}
    return [f"{label}.{name} is used by DS and unknown to us" for name in sorted(used - set(ours))]


def check_references_resolve(label: str, references: Sequence[Json]) -> list[str]:
    """Every field and method DS's served code uses of a class we stand in for exists in the stand-in."""
    return [
        f"{label}: DS uses {r['kind']} {r['name']}{r['descriptor']}, missing" for r in references if not r["resolved"]
    ]


# ---------------------------------------------------------------------------------------------------------------
# Entity JSON


def _loads_if_json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def same_meaning(sent: Any, written: Any, path: str = "") -> list[str]:
    """Differences between what we sent and what DS wrote back, for every field we sent (fields DS adds are not
    ours to check). A JSON text and the structure it encodes mean the same (DS keeps ``taskParams`` and
    ``conditionParams`` as text and writes them back as JSON)."""
    sent, written = _loads_if_json(sent), _loads_if_json(written)
    if isinstance(sent, dict):
        if not isinstance(written, dict):
            return [f"{path or '.'}: sent an object, DS wrote {written!r}"]
        out: list[str] = []
        for key, value in sent.items():
            if key not in written:
                out.append(f"{path}.{key}: sent {value!r}, lost (DS wrote no such field)")
            else:
                out += same_meaning(value, written[key], f"{path}.{key}")
        return out
    if isinstance(sent, list):
        if not isinstance(written, list) or len(written) != len(sent):
            return [f"{path or '.'}: sent {len(sent)} items, DS wrote {written!r}"]
        return [
            d for i, (a, b) in enumerate(zip(sent, written, strict=True)) for d in same_meaning(a, b, f"{path}[{i}]")
        ]
    if sent != written:
        return [f"{path or '.'}: sent {sent!r}, DS wrote {written!r}"]
    return []


def _without(value: Any, keys: frozenset[str]) -> Any:
    value = _loads_if_json(value)
    if isinstance(value, dict):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_without(v, keys) for v in value]
    return value


def check_json(result: Json, sent: Any, ignored: Iterable[str] = ()) -> list[str]:
    """A document read by DS's ``JSONUtils`` into its entity class: no error, no property the class does not know,
    and written back with the same meaning. ``ignored``: property names (at any depth) we send on purpose although
    the class lacks them; they are neither reported nor compared (the caller says why, and checks they still are
    the only unknown ones)."""
    where = result["id"]
    if result["error"]:
        return [f"{where}: DS could not read it: {result['error'].splitlines()[0]}"]
    skip = frozenset(ignored)
    problems = [
        f"{where}: {u} is not a property of the DS class (ignored by DS)"
        for u in result["unknown"]
        if u.rsplit(".", 1)[-1] not in skip
    ]
    return problems + [f"{where}{d}" for d in same_meaning(_without(sent, skip), result["written"])]
