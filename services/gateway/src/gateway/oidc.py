"""The OpenID Connect provider, through Authlib's Starlette client (``authlib.integrations.starlette_client``).

Authlib does the protocol: discovery from ``<issuer>/.well-known/openid-configuration``, the authorization URL with
``state``, ``nonce`` and a PKCE (S256) challenge, the code exchange, and the ID token's validation (signature against
the provider's JWKS, ``iss``, ``aud``, ``exp``, ``nonce``, ``at_hash``), refresh and the end-session URL.

Authlib keeps a sign-in's state in ``request.session``; the gateway has no cookie session for that, so
``begin``/``finish`` hand it a plain dict that ``gateway.sessions`` stores server-side (``sign_in_attempt``) under the
hash of a short-lived cookie of the browser that began the sign-in: the callback is accepted only from that browser,
once, within ``SIGN_IN_TTL``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.integrations.starlette_client import OAuth, OAuthError, StarletteOAuth2App
from joserfc.errors import JoseError
from starlette.requests import Request

from gateway.config import Settings

log = logging.getLogger(__name__)

PROVIDER = "platform"

# Authlib's HTTP client is httpx2 where that is installed (it is here: a dependency of openlineage-python), else httpx
_HTTP_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError,)
_STATUS_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPStatusError,)
try:
    import httpx2

    _HTTP_ERRORS += (httpx2.HTTPError,)
    _STATUS_ERRORS += (httpx2.HTTPStatusError,)
except ImportError:  # pragma: no cover - the deployment without httpx2
    pass


class ProviderRefused(Exception):
    """The provider refused (an error answer, a bad state, an invalid ID token, a refused refresh). The message is
    safe to show: it never holds a token or code."""


class ProviderUnavailable(Exception):
    """The provider could not be reached or answered 5xx."""


@dataclass(frozen=True)
class SignedIn:
    """A finished sign-in: the ID token's verified claims and the provider's tokens."""

    claims: dict[str, Any]
    refresh_token: str | None
    id_token: str
    access_token: str
    #: epoch seconds; ``None``: the provider said nothing
    access_expires_at: float | None


@dataclass(frozen=True)
class Refreshed:
    refresh_token: str | None
    id_token: str | None
    access_token: str
    access_expires_at: float | None


class OidcProvider:
    def __init__(self, settings: Settings) -> None:
        assert settings.oidc_client_secret is not None
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self._secret = settings.oidc_client_secret
        self._timeout = settings.oidc_timeout_s
        oauth = OAuth()
        app = oauth.register(
            PROVIDER,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret.get_secret_value(),
            server_metadata_url=f"{settings.oidc_issuer}/.well-known/openid-configuration",
            client_kwargs={
                "scope": settings.oidc_scopes,
                "code_challenge_method": "S256",
                "timeout": settings.oidc_timeout_s,
            },
        )
        assert isinstance(app, StarletteOAuth2App)
        self._app = app

    async def metadata(self) -> dict[str, Any]:
        """The discovery document (fetched once); its ``issuer`` must be the configured one (OIDC Discovery §4.3)."""
        try:
            meta: dict[str, Any] = await self._app.load_server_metadata()
        except _HTTP_ERRORS as exc:
            raise ProviderUnavailable(f"the sign-in provider's discovery document: {type(exc).__name__}") from None
        if str(meta.get("issuer", "")).rstrip("/") != self.issuer:
            self._app.server_metadata.clear()
            raise ProviderRefused("the sign-in provider's discovery document names another issuer")
        return meta

    async def begin(self, request: Request, redirect_uri: str) -> tuple[str, dict[str, Any]]:
        """The provider's authorization URL, and the state to keep until the callback."""
        await self.metadata()
        state: dict[str, Any] = {}
        request.scope["session"] = state
        try:
            answer = await self._app.authorize_redirect(request, redirect_uri)
        except _HTTP_ERRORS as exc:
            raise ProviderUnavailable(f"the sign-in provider: {type(exc).__name__}") from None
        return str(answer.headers["location"]), state

    async def finish(self, request: Request, state: dict[str, Any]) -> SignedIn:
        """Exchange the callback's code (``state`` from ``begin``); the ID token is validated by Authlib."""
        await self.metadata()
        request.scope["session"] = state
        try:
            token = await self._app.authorize_access_token(request)
        except OAuthError as exc:
            raise ProviderRefused(f"the sign-in provider refused: {exc.error or 'error'}") from None
        except (JoseError, ValueError) as exc:
            raise ProviderRefused(f"the ID token is not valid ({type(exc).__name__})") from None
        except _HTTP_ERRORS as exc:
            raise ProviderUnavailable(f"the sign-in provider: {type(exc).__name__}") from None
        claims = token.get("userinfo")
        id_token = token.get("id_token")
        if not claims or not id_token:
            raise ProviderRefused("the sign-in provider sent no ID token")
        return SignedIn(
            claims=dict(claims),
            refresh_token=token.get("refresh_token"),
            id_token=id_token,
            access_token=token["access_token"],
            access_expires_at=_expires_at(token),
        )

    async def refresh(self, refresh_token: str) -> Refreshed:
        meta = await self.metadata()
        client = AsyncOAuth2Client(
            client_id=self.client_id, client_secret=self._secret.get_secret_value(), timeout=self._timeout
        )
        try:
            async with client:
                token = await client.refresh_token(meta["token_endpoint"], refresh_token=refresh_token)
        except OAuthError as exc:
            raise ProviderRefused(f"the sign-in provider refused the refresh: {exc.error or 'error'}") from None
        except _STATUS_ERRORS as exc:
            status = getattr(getattr(exc, "response", None), "status_code", 500)
            if status >= 500:
                raise ProviderUnavailable(f"the sign-in provider answered {status}") from None
            raise ProviderRefused(f"the sign-in provider refused the refresh ({status})") from None
        except _HTTP_ERRORS as exc:
            raise ProviderUnavailable(f"the sign-in provider: {type(exc).__name__}") from None
        if "access_token" not in token:
            raise ProviderRefused("the sign-in provider's refresh answer has no access token")
        return Refreshed(
            refresh_token=token.get("refresh_token") or refresh_token,
            id_token=token.get("id_token"),
            access_token=token["access_token"],
            access_expires_at=_expires_at(token),
        )

    async def logout_url(self, *, id_token: str | None, post_logout_redirect_uri: str) -> str | None:
        """The provider's end-session URL (RP-initiated logout), or ``None`` when it has none."""
        try:
            meta = await self.metadata()
        except (ProviderUnavailable, ProviderRefused):
            return None
        if not meta.get("end_session_endpoint"):
            return None
        extra = {} if id_token else {"client_id": self.client_id}
        result = await self._app.create_logout_url(
            post_logout_redirect_uri=post_logout_redirect_uri, id_token_hint=id_token, **extra
        )
        return str(result["url"])


def _expires_at(token: dict[str, Any]) -> float | None:
    if token.get("expires_at"):
        return float(token["expires_at"])
    if token.get("expires_in"):
        return time.time() + float(token["expires_in"])
    return None
