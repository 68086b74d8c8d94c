"""What the gateway gives browsers: security headers on every answer, and the API docs pages built on assets it
serves itself.

The portal keeps the user's API key in the browser, so a script that runs on this origin could take it. Hence, on
every answer (``SecurityHeadersMiddleware``):

- ``Content-Security-Policy``: scripts from this origin only (no inline script, no ``eval``), nothing may frame the
  pages (``frame-ancestors 'none'``), no plugins, no ``<base>``, connections and forms to this origin only. Styles may
  be inline: the portal's component library (Naive UI) injects its styles at run time;
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` (the DolphinScheduler links do not tell DS
  the portal's URLs), ``X-Frame-Options: DENY`` (older browsers), ``Cross-Origin-Opener-Policy: same-origin``.

The docs pages (``/docs``: Swagger UI, ``/asyncapi``: the AsyncAPI document) load the pinned ``swagger-ui-dist`` and
``@asyncapi/react-component`` bundles and their start-up scripts from ``/docs-assets/`` (copied into the portal's
build, ``portal/vite.config.ts``), never from a public CDN. One exception to the policy, on one page: the AsyncAPI
renderer validates the document with AJV, which compiles its validators with ``new Function``, so ``/asyncapi`` (and
only it) allows ``'unsafe-eval'``. It holds no user data and still runs no inline script; the portal, where the key
lives, never allows it.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

#: the /asyncapi page's policy: the same, and ``eval`` for its renderer's schema validator (see the module's summary)
ASYNCAPI_PAGE_POLICY = CONTENT_SECURITY_POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-eval'")

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_NAMES = frozenset(name for name, _ in SECURITY_HEADERS)


class SecurityHeadersMiddleware:
    """Pure ASGI: adds ``SECURITY_HEADERS`` to every HTTP answer (replacing any the app set, except a route's own
    ``Content-Security-Policy``: the /asyncapi page's)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                given = list(message.get("headers", ()))
                own_policy = [h for h in given if h[0].lower() == b"content-security-policy"]
                headers = [h for h in given if h[0].lower() not in _NAMES]
                added = [h for h in SECURITY_HEADERS if not (own_policy and h[0] == b"content-security-policy")]
                message["headers"] = [*headers, *own_policy, *added]
            await send(message)

        await self.app(scope, receive, send_wrapper)


ASSETS = "/docs-assets"

SWAGGER_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{title}}</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui/swagger-ui.css">
<link rel="icon" type="image/png" href="{ASSETS}/swagger-ui/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{{openapi_url}}"></div>
<script src="{ASSETS}/swagger-ui/swagger-ui-bundle.js"></script>
<script src="{ASSETS}/swagger-init.js"></script>
</body>
</html>
"""

ASYNCAPI_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Workflow platform events</title>
<link rel="stylesheet" href="{ASSETS}/asyncapi/default.min.css">
</head>
<body>
<div id="asyncapi" data-asyncapi-url="/asyncapi.json"></div>
<script src="{ASSETS}/asyncapi/index.js"></script>
<script src="{ASSETS}/asyncapi-init.js"></script>
</body>
</html>
"""


def install_docs_pages(app: FastAPI, *, title: str, openapi_url: str = "/openapi.json") -> None:
    """``/docs`` (Swagger UI over ``openapi_url``) and ``/asyncapi`` (over ``/asyncapi.json``)."""
    swagger = SWAGGER_PAGE.format(title=title, openapi_url=openapi_url)

    @app.get("/docs", include_in_schema=False)
    async def docs_page() -> HTMLResponse:
        return HTMLResponse(swagger)

    @app.get("/asyncapi", include_in_schema=False)
    async def asyncapi_page() -> HTMLResponse:
        return HTMLResponse(ASYNCAPI_PAGE, headers={"Content-Security-Policy": ASYNCAPI_PAGE_POLICY})
