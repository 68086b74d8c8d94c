"""What the gateway gives a browser: the security headers on every answer, and docs pages that load everything from
the gateway itself and render under its Content-Security-Policy (no inline script, no CDN)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from .conftest import SecureStack

CHROMIUM = Path(os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium"))


@pytest.mark.parametrize("path", ["/", "/workflows/1", "/docs", "/asyncapi", "/openapi.json", "/api/v1/me", "/healthz"])
def test_every_answer_carries_the_security_headers(secure: SecureStack, path: str) -> None:
    r = httpx.get(secure.stack.base_url + path, headers={"Authorization": f"Bearer {secure.stack.admin_token}"})
    assert r.status_code == 200, (path, r.status_code)
    csp = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    # the AsyncAPI page alone may eval (its renderer's schema validator; gateway.browser)
    assert csp["script-src"] == ("'self' 'unsafe-eval'" if path == "/asyncapi" else "'self'")
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"
    assert ("unsafe-eval" in r.headers["content-security-policy"]) == (path == "/asyncapi")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("path", ["/docs", "/asyncapi"])
def test_docs_assets_come_from_the_gateway(secure: SecureStack, path: str) -> None:
    html = httpx.get(secure.stack.base_url + path).text
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources
    for source in sources:
        assert source.startswith("/docs-assets/"), source
        r = httpx.get(secure.stack.base_url + source)
        assert r.status_code == 200, source
        assert len(r.content) > 100, source
    assert not re.search(r"<script>[^<]", html), "no inline script"


@pytest.mark.skipif(not CHROMIUM.exists() or shutil.which("node") is None, reason="needs Chromium")
@pytest.mark.parametrize(("path", "rendered"), [("/docs", "opblock-tag"), ("/asyncapi", "publish.requested")])
def test_docs_pages_render_under_the_policy(secure: SecureStack, path: str, rendered: str) -> None:
    """Headless Chromium runs the page with the gateway's CSP in force: it renders only if none of its scripts is
    blocked."""
    result = subprocess.run(
        [
            str(CHROMIUM),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=15000",
            "--dump-dom",
            secure.stack.base_url + path,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rendered in result.stdout, result.stderr[-2000:]
