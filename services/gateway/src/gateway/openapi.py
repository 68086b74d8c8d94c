"""The public API's contract, committed for the portal: ``portal/src/api/openapi.json`` and the TypeScript types
generated from it by ``openapi-typescript`` (``portal/src/api/schema.d.ts``).

``python -m gateway.openapi`` (or ``npm run gen:api`` in ``portal/``) rewrites both; ``python -m gateway.openapi
--check`` (part of ``./platform check``, and a test) fails when either differs from what the routes' models give.
The document comes from ``create_app`` itself, without a server, a database or the services (the app's lifespan is
never entered); the identity key it needs to start is a throwaway one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.config import Settings
from gateway.main import create_app

REPO = Path(__file__).resolve().parents[4]
PORTAL = REPO / "portal"
API_DIR = PORTAL / "src" / "api"
OPENAPI_JSON = "openapi.json"
SCHEMA_TS = "schema.d.ts"
#: what regenerates the committed files (named by the check when they are stale)
REGENERATE = "python -m gateway.openapi  (or: cd portal && npm run gen:api)"


def document() -> dict[str, Any]:
    """``/openapi.json`` of the gateway as ``create_app`` builds it."""
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "gateway.key"
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        key.write_bytes(pem)
        settings = Settings(identity_key_file=key, log_json=False, bootstrap_admin_token=None)
        return create_app(settings, telemetry=False).openapi()


def render(doc: dict[str, Any]) -> str:
    """The document as committed: FastAPI's order (routes as registered, schemas sorted by name), two-space indent."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def generate(out_dir: Path, *, portal: Path = PORTAL) -> None:
    """Write ``openapi.json`` and ``schema.d.ts`` into ``out_dir`` (``openapi-typescript`` from the portal's
    ``node_modules``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = out_dir / OPENAPI_JSON
    spec.write_text(render(document()))
    tool = portal / "node_modules" / ".bin" / "openapi-typescript"
    node = shutil.which("node")
    if not tool.exists() or node is None:
        raise SystemExit(
            f"{tool} is missing: install the portal's packages first (cd portal && npm ci; Node.js 20.19+)"
        )
    subprocess.run(
        # a field with a default is optional, as the schema says (the answers leave out what the service left out)
        [str(tool), str(spec), "--default-non-nullable", "false", "--output", str(out_dir / SCHEMA_TS)],
        check=True,
        cwd=portal,
        stdout=subprocess.DEVNULL,
    )


def stale(committed: Path = API_DIR, *, portal: Path = PORTAL) -> list[str]:
    """The committed files that differ from what the routes' models give now (empty: up to date)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh, portal=portal)
        return [
            _shown(committed / name)
            for name in (OPENAPI_JSON, SCHEMA_TS)
            if not (committed / name).exists() or (committed / name).read_text() != (fresh / name).read_text()
        ]


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.openapi", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail when the committed files are stale")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale()
        if outdated:
            print(
                f"the public API changed but its committed contract did not: {', '.join(outdated)}. "
                f"Run: {REGENERATE}, then commit both files.",
                file=sys.stderr,
            )
            return 1
        return 0
    generate(API_DIR)
    print(f"wrote {API_DIR / OPENAPI_JSON} and {API_DIR / SCHEMA_TS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
