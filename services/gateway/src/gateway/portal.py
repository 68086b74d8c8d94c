"""The portal: static files of the built Vue app at ``/`` with a single-page-app fallback to ``index.html``.

Registered after every other route, so the API, docs, health and metrics keep their paths; an unknown path under
``/api/`` stays a 404 problem instead of getting the portal's HTML.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from common.errors import NotFound

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Workflow platform</title></head>
<body style="font-family: sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>The portal is not built</h1>
<p>The gateway serves the portal from <code>{dir}</code>, which does not exist yet. Build it with</p>
<pre>cd portal &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>(or point <code>GATEWAY_PORTAL_DIR</code> at a build). Meanwhile: <a href="/docs">API documentation</a>,
<a href="/asyncapi">event documentation</a>.</p>
</body></html>
"""

RESERVED_PREFIXES = ("api/", "internal/")


def portal_router(portal_dir: Path) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    root = portal_dir.resolve()

    @router.get("/{path:path}")
    async def portal(path: str) -> Response:
        if path.startswith(RESERVED_PREFIXES) or path in ("api", "internal"):
            raise NotFound(f"no such API path: /{path}")
        index = root / "index.html"
        if not index.is_file():
            return HTMLResponse(NOT_BUILT.format(dir=_short(root)))
        if path:
            candidate = (root / path).resolve()
            if candidate.is_relative_to(root) and candidate.is_file():
                return FileResponse(candidate, headers=_cache_headers(path))
            if path.startswith("assets/"):
                raise NotFound(f"no such portal asset: /{path}")
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    return router


def _cache_headers(path: str) -> dict[str, str]:
    # Vite puts content hashes in the names under assets/: those never change.
    if path.startswith("assets/"):
        return {"Cache-Control": "public, max-age=31536000, immutable"}
    return {"Cache-Control": "no-cache"}


def _short(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"
