"""A person's sign-in with their company account (OIDC; ``gateway.oidc``, ``gateway.sessions``), outside ``/api/``:

- ``GET /auth/login[?redirect=/path]`` → 302 to the provider (a short-lived sign-in cookie binds the callback to
  this browser);
- ``GET /auth/callback`` → the session cookie and 302 to the portal (or ``/login?sso_error=<code>`` when the sign-in
  failed: the portal says why);
- ``GET /auth/session`` → whether sign-in is offered and who is signed in, with the session's CSRF token; 401
  ``session-ended`` when the cookie's session has ended;
- ``POST /auth/logout`` (with ``X-CSRF-Token``) → the session is deleted, the cookies cleared, and the answer names
  the provider's end-session URL (``id_token_hint``, ``post_logout_redirect_uri``) for the portal to go to.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from common.errors import NotFound, ValidationFailed
from gateway.deps import Deps, get_deps
from gateway.domain.sessions import SignInRefused, csrf_token_of, person_of, require_roles, roles_for_groups
from gateway.guard import check_csrf
from gateway.oidc import ProviderRefused, ProviderUnavailable
from gateway.routes.me import me_of
from gateway.schemas import Me
from gateway.sessions import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    SIGN_IN_TTL,
    ProviderDown,
    SessionEnded,
    SessionService,
    Tokens,
)

log = logging.getLogger(__name__)

# browser endpoints, not the public API (its contract and the portal types are /api/ only)
router = APIRouter(prefix="/auth", tags=["sign-in"], include_in_schema=False)


class SessionState(BaseModel):
    #: whether the gateway offers sign-in with a company account (an OIDC provider is configured)
    sso: bool
    signed_in: bool
    me: Me | None = None


class SignedOut(BaseModel):
    #: where the browser goes next: the provider's end-session page (RP-initiated logout), or the portal
    logout_url: str


def _web(deps: Deps) -> SessionService:
    if deps.web_sessions is None:
        raise NotFound("sign-in with a company account is not configured here; use an API key")
    return deps.web_sessions


def _base_url(request: Request, deps: Deps) -> str:
    return deps.settings.public_url or str(request.base_url).rstrip("/")


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _safe_redirect(value: str | None) -> str:
    """A path of the portal to return to after sign-in: only a local path (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _cookie(response: Response, deps: Deps, name: str, value: str, *, max_age: int, http_only: bool = True) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=deps.settings.session_cookie_secure,
        httponly=http_only,
        samesite="lax",
    )


@router.get("/login", response_class=RedirectResponse, status_code=302)
async def login(request: Request, deps: Annotated[Deps, Depends(get_deps)], redirect: str | None = None) -> Response:
    web = _web(deps)
    base = _base_url(request, deps)
    if not deps.settings.session_cookie_secure and not _loopback(base):
        raise ValidationFailed(
            "session cookies without the Secure flag are for http://localhost only: set GATEWAY_SESSION_COOKIE_SECURE"
        )
    try:
        url, state = await web.provider.begin(request, f"{base}/auth/callback")
    except ProviderUnavailable as exc:
        raise ProviderDown(str(exc)) from None
    except ProviderRefused as exc:
        raise ProviderDown(str(exc)) from None
    state["return_to"] = _safe_redirect(redirect)
    cookie = await web.keep_sign_in(state)
    response = RedirectResponse(url, status_code=302)
    _cookie(response, deps, SIGN_IN_COOKIE, cookie, max_age=int(SIGN_IN_TTL.total_seconds()))
    return response


@router.get("/callback", response_class=RedirectResponse, status_code=302)
async def callback(request: Request, deps: Annotated[Deps, Depends(get_deps)]) -> Response:
    web = _web(deps)
    state = await web.take_sign_in(request.cookies.get(SIGN_IN_COOKIE))
    if state is None:
        return _failed(deps, "sign-in-expired", "no sign-in of this browser is in progress (or it took too long)")
    return_to = _safe_redirect(state.pop("return_to", None))
    try:
        signed_in = await web.provider.finish(request, state)
        person = person_of(signed_in.claims)
        roles = require_roles(roles_for_groups(signed_in.claims.get("groups"), web.group_roles))
    except ProviderUnavailable as exc:
        return _failed(deps, "sign-in-provider-unavailable", str(exc))
    except ProviderRefused as exc:
        return _failed(deps, "sign-in-refused", str(exc))
    except SignInRefused as exc:
        code = "no-role" if "role" in str(exc) else "sign-in-refused"
        return _failed(deps, code, str(exc))
    session_id = await web.open(
        person=person,
        roles=roles,
        tokens=Tokens(signed_in.refresh_token, signed_in.id_token, signed_in.access_token),
        access_expires_at=signed_in.access_expires_at,
    )
    response = RedirectResponse(return_to, status_code=302)
    max_age = int(deps.settings.session_max_age_s)
    _cookie(response, deps, SESSION_COOKIE, session_id, max_age=max_age)
    _cookie(response, deps, CSRF_COOKIE, csrf_token_of(session_id), max_age=max_age, http_only=False)
    response.delete_cookie(SIGN_IN_COOKIE, path="/")
    return response


def _failed(deps: Deps, code: str, why: str) -> Response:
    log.info("sign-in failed (%s): %s", code, why)
    response = RedirectResponse(f"/login?sso_error={quote(code)}", status_code=302)
    response.delete_cookie(SIGN_IN_COOKIE, path="/")
    return response


@router.get("/session", response_model=SessionState)
async def session_state(request: Request, deps: Annotated[Deps, Depends(get_deps)]) -> Any:
    web = deps.web_sessions
    session_id = request.cookies.get(SESSION_COOKIE)
    if web is None or not session_id:
        return SessionState(sso=web is not None, signed_in=False)
    principal = await web.authenticate(session_id)  # SessionEnded → 401 session-ended
    return SessionState(sso=True, signed_in=True, me=me_of(principal))


@router.post("/logout", response_model=SignedOut)
async def logout(request: Request, deps: Annotated[Deps, Depends(get_deps)]) -> Response:
    web = _web(deps)
    base = _base_url(request, deps)
    session_id = request.cookies.get(SESSION_COOKIE)
    tokens: Tokens | None = None
    if session_id:
        try:
            principal = await web.authenticate(session_id)
        except SessionEnded:
            principal = None  # already ended: clear the cookies all the same
        if principal is not None:
            check_csrf(principal, request.headers.get(CSRF_HEADER))
            tokens = await web.close(session_id)
    url = await web.provider.logout_url(
        id_token=tokens.id_token if tokens else None, post_logout_redirect_uri=f"{base}/"
    )
    response = JSONResponse(SignedOut(logout_url=url or "/login").model_dump())
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/")
    return response
