"""Committed JSON Schemas of every event model: ``schemas/<type>.v<version>.json``.

``python -m common.events.schemas`` (re)writes them; the test suite fails when a model's schema differs from the
committed file (forgotten regeneration) or breaks compatibility with it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from common.events.base import Event
from common.events.registry import registry

SCHEMA_DIR = Path(__file__).parent / "schemas"


def schema_path(model: type[Event]) -> Path:
    return SCHEMA_DIR / f"{model.TYPE}.v{model.VERSION}.json"


def model_schema(model: type[Event]) -> dict[str, Any]:
    schema = model.model_json_schema(mode="serialization")
    schema["$id"] = f"urn:platform:event:{model.TYPE}:v{model.VERSION}"
    schema["x-topic"] = model.TOPIC
    return schema


def render(model: type[Event]) -> str:
    return json.dumps(model_schema(model), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_all() -> list[Path]:
    SCHEMA_DIR.mkdir(exist_ok=True)
    written = []
    for model in registry.models():
        path = schema_path(model)
        path.write_text(render(model))
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_all():
        sys.stdout.write(f"wrote {p}\n")
