"""The committed contract of the public API (portal/src/api/openapi.json and the TypeScript types generated from it)
is what the routes' models give: a change of a response model without ``python -m gateway.openapi`` fails here."""

from __future__ import annotations

import json

from gateway import openapi


def test_the_committed_openapi_and_portal_types_are_up_to_date() -> None:
    outdated = openapi.stale()
    assert not outdated, (
        f"stale: {', '.join(outdated)}: the public API changed but its committed contract did not. "
        f"Run: {openapi.REGENERATE}, then commit both files."
    )


def test_every_api_route_declares_its_answer() -> None:
    """No route answers an untyped object: each names a schema (or answers nothing, 204)."""
    doc = openapi.document()
    untyped = []
    for path, operations in doc["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, op in operations.items():
            ok = [r for status, r in op["responses"].items() if status.startswith("2")]
            for answer in ok:
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                if schema is not None and "$ref" not in schema:
                    untyped.append(f"{method.upper()} {path}: {json.dumps(schema)}")
    assert not untyped, "routes without a response model:\n" + "\n".join(untyped)
