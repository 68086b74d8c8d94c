"""Backward-compatibility check between a committed JSON Schema and a model's current one.

A change is compatible when every message valid under the old schema is still accepted by the new model, and every
message produced by the new model still carries what old consumers read. Concretely, for each object schema:
- no property may be removed (old consumers may read it);
- no property may change its type;
- no property may become required unless it was required before (old producers don't send it).
Nested objects, ``$defs`` references, arrays and ``anyOf`` (nullable) are followed.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def _resolve(schema: Schema, root: Schema) -> Schema:
    seen = 0
    while "$ref" in schema and seen < 50:
        ref: str = schema["$ref"]
        name = ref.rsplit("/", 1)[-1]
        schema = root.get("$defs", {}).get(name, {})
        seen += 1
    return schema


def _types(schema: Schema, root: Schema) -> set[str]:
    schema = _resolve(schema, root)
    if "anyOf" in schema or "oneOf" in schema:
        out: set[str] = set()
        for sub in schema.get("anyOf", []) + schema.get("oneOf", []):
            out |= _types(sub, root)
        return out
    if "const" in schema:
        return {f"const:{schema['const']}"} if "type" not in schema else {schema["type"]}
    if "enum" in schema:
        return {schema.get("type", "enum")}
    t = schema.get("type")
    if isinstance(t, list):
        return set(t)
    return {t} if t else {"any"}


def incompatibilities(old: Schema, new: Schema) -> list[str]:
    """Reasons why ``new`` breaks consumers or producers written against ``old`` (empty if compatible)."""
    problems: list[str] = []
    _compare(old, new, old, new, "$", problems, depth=0)
    return problems


def _compare(
    old: Schema, new: Schema, old_root: Schema, new_root: Schema, path: str, out: list[str], depth: int
) -> None:
    if depth > 30:
        return
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    old_t, new_t = _types(old, old_root), _types(new, new_root)
    if "any" not in new_t and not old_t <= new_t:
        out.append(f"{path}: type changed from {sorted(old_t)} to {sorted(new_t)}")
        return
    # follow nullable unions to their object/array member
    for key in ("anyOf", "oneOf"):
        if key in old or key in new:
            olds = [_resolve(s, old_root) for s in old.get(key, [old])]
            news = [_resolve(s, new_root) for s in new.get(key, [new])]
            for o in olds:
                # union members are matched by their model title (discriminated unions), else by type
                match = next((n for n in news if o.get("title") and n.get("title") == o.get("title")), None)
                if match is None:
                    match = next((n for n in news if _types(n, new_root) & _types(o, old_root)), None)
                if match is not None and (o.get("properties") or o.get("items")):
                    _compare(o, match, old_root, new_root, path, out, depth + 1)
            return
    if "properties" in old or "properties" in new:
        old_props: dict[str, Schema] = old.get("properties", {})
        new_props: dict[str, Schema] = new.get("properties", {})
        for name, sub in old_props.items():
            if name not in new_props:
                out.append(f"{path}.{name}: property removed")
            else:
                _compare(sub, new_props[name], old_root, new_root, f"{path}.{name}", out, depth + 1)
        added_required = set(new.get("required", [])) - set(old.get("required", []))
        for name in sorted(added_required):
            out.append(f"{path}.{name}: property became required (old producers do not send it)")
    if "items" in old and "items" in new and isinstance(old["items"], dict) and isinstance(new["items"], dict):
        _compare(old["items"], new["items"], old_root, new_root, f"{path}[]", out, depth + 1)
    if "prefixItems" in old and "items" in new and isinstance(new["items"], dict):
        for item in old["prefixItems"]:
            _compare(item, new["items"], old_root, new_root, f"{path}[]", out, depth + 1)
