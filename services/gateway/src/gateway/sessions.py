"""People's sign-in sessions: opened at the OIDC callback, checked on every request that carries the session cookie,
refreshed with the provider, ended at sign-out or expiry (rules: ``gateway.domain.sessions``; provider:
``gateway.oidc``).

A session lives in ``web_session``, found by the SHA-256 of the cookie's random id. The provider's tokens (refresh,
ID, access) are kept encrypted (Fernet, its key derived from the client secret, which the database does not hold)
and never logged or answered. When the access token has expired, the next request refreshes the tokens with the
provider under the row's lock; a refused refresh (the person was disabled, their provider session revoked) ends the
session. Roles stay those of the sign-in: a mapping or group change takes effect at the next sign-in.

A session found valid is remembered in the process (``VerifiedKeys``, by the id's hash) for
``GATEWAY_SESSION_CACHE_TTL_S`` (never past its access token's expiry or the session's end), so a request with the
cookie costs about what one with a key costs. Sign-out forgets it at once in this process, in the others within the
TTL.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import unit_of_work
from common.errors import Forbidden, TransientError, Unauthorized
from gateway.db import repository as repo
from gateway.db.repository import Record
from gateway.domain.sessions import (
    Person,
    SessionTimes,
    csrf_token_of,
    hash_session_id,
    new_session_id,
    plausible_session_id,
)
from gateway.oidc import OidcProvider, ProviderRefused, ProviderUnavailable
from gateway.principals import Principal, VerifiedKeys

log = logging.getLogger(__name__)

SESSION_COOKIE = "platform_session"
#: the CSRF token, readable by the portal's script (double submit: sent back in ``X-CSRF-Token``)
CSRF_COOKIE = "platform_csrf"
CSRF_HEADER = "x-csrf-token"
#: the browser's sign-in in progress (``/auth/login`` → ``/auth/callback``)
SIGN_IN_COOKIE = "platform_sign_in"
SIGN_IN_TTL = timedelta(minutes=10)
#: refresh this long before the access token expires
REFRESH_EARLY = timedelta(seconds=10)


class SessionEnded(Unauthorized):
    code = "session-ended"


class CsrfTokenMissing(Forbidden):
    code = "csrf-token-missing"


class CsrfTokenInvalid(Forbidden):
    code = "csrf-token-invalid"


class ProviderDown(TransientError):
    code = "sign-in-provider-unavailable"


ENDED = "your session has ended; sign in again"


@dataclass(frozen=True)
class Tokens:
    refresh_token: str | None
    id_token: str | None
    access_token: str | None

    def encrypt(self, box: Fernet) -> bytes:
        return box.encrypt(json.dumps(self.__dict__).encode())

    @classmethod
    def decrypt(cls, box: Fernet, data: bytes) -> Tokens:
        try:
            raw: dict[str, Any] = json.loads(box.decrypt(bytes(data)))
        except (InvalidToken, ValueError):
            # another client secret encrypted them (a rotation): the session cannot refresh or hint its logout
            return cls(None, None, None)
        return cls(raw.get("refresh_token"), raw.get("id_token"), raw.get("access_token"))


def token_box(client_secret: SecretStr) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"gateway web_session tokens").derive(
        client_secret.get_secret_value().encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


@dataclass
class SessionService:
    """What the routes and the guard need of sessions (built in the app's lifespan when OIDC is configured)."""

    sessions: async_sessionmaker[AsyncSession]
    provider: OidcProvider
    box: Fernet
    times: SessionTimes
    verified: VerifiedKeys
    group_roles: dict[str, list[str]]

    async def open(
        self, *, person: Person, roles: tuple[str, ...], tokens: Tokens, access_expires_at: float | None
    ) -> str:
        """A new session; the answer is the cookie's id (only its hash is stored)."""
        session_id = new_session_id()
        async with unit_of_work(self.sessions) as session:
            await repo.insert_session(
                session,
                digest=hash_session_id(session_id),
                subject=person.subject,
                name=person.name,
                display_name=person.display_name,
                email=person.email,
                roles=roles,
                tokens=tokens.encrypt(self.box),
                access_expires_at=_at(access_expires_at),
            )
        log.info("%s signed in (roles %s)", person.name, ",".join(roles))
        return session_id

    async def authenticate(self, session_id: str) -> Principal:
        if not plausible_session_id(session_id):
            raise SessionEnded(ENDED)
        digest = hash_session_id(session_id)
        known = self.verified.get(digest)
        if known is not None:
            return known
        now = datetime.now(UTC)
        async with unit_of_work(self.sessions) as session:
            row = await repo.session_by_hash(session, digest)
            if row is None:
                raise SessionEnded(ENDED)
            row_id = row.id
            ended = self.times.ended(created_at=row.created_at, last_seen_at=row.last_seen_at, now=now)
            if not ended and row.access_expires_at is not None and row.access_expires_at - REFRESH_EARLY <= now:
                row = await self._refresh(session, digest)
                ended = row is None
            if ended:
                await repo.delete_session(session, row_id)
            else:
                await repo.touch_session(session, row_id, min_interval=self._touch_interval())
        if row is None or ended:
            raise SessionEnded(ENDED)
        principal = _principal(row, session_id)
        until = self.times.ends_at(created_at=row.created_at, last_seen_at=now)
        if row.access_expires_at is not None:
            until = min(until, row.access_expires_at - REFRESH_EARLY)
        self.verified.put(digest, principal, ttl_s=min(self.verified.ttl_s, (until - now).total_seconds()))
        return principal

    async def _refresh(self, session: AsyncSession, digest: str) -> Record | None:
        """The session's row after refreshing its tokens under its lock; ``None`` when the provider refused."""
        row = await repo.session_by_hash(session, digest, lock=True)
        if row is None:
            return None
        now = datetime.now(UTC)
        if row.access_expires_at is None or row.access_expires_at - REFRESH_EARLY > now:
            return row  # another request refreshed it meanwhile
        tokens = Tokens.decrypt(self.box, row.tokens)
        if tokens.refresh_token is None:
            log.info("session of %s ended: no refresh token", row.name)
            return None
        try:
            fresh = await self.provider.refresh(tokens.refresh_token)
        except ProviderRefused as exc:
            log.info("session of %s ended: %s", row.name, exc)
            return None
        except ProviderUnavailable as exc:
            raise ProviderDown(f"{exc}; try again shortly") from None
        new = Tokens(fresh.refresh_token, fresh.id_token or tokens.id_token, fresh.access_token)
        await repo.refresh_session(
            session, row.id, tokens=new.encrypt(self.box), access_expires_at=_at(fresh.access_expires_at)
        )
        return await repo.session_by_hash(session, digest)

    async def close(self, session_id: str) -> Tokens | None:
        """Sign-out: the session is deleted (its cookie refused from now on); the answer is its tokens (the ID token
        hints the provider's logout), ``None`` when there was no such session."""
        if not plausible_session_id(session_id):
            return None
        digest = hash_session_id(session_id)
        self.verified.forget_digest(digest)
        async with unit_of_work(self.sessions) as session:
            row = await repo.take_session(session, digest)
        if row is None:
            return None
        log.info("%s signed out", row.name)
        return Tokens.decrypt(self.box, row.tokens)

    async def keep_sign_in(self, state: dict[str, Any]) -> str:
        """Keep a sign-in's state until its callback; the answer is the sign-in cookie's value."""
        cookie = new_session_id()
        async with unit_of_work(self.sessions) as session:
            await repo.insert_sign_in(session, digest=hash_session_id(cookie), data=json.dumps(state), ttl=SIGN_IN_TTL)
        return cookie

    async def take_sign_in(self, cookie: str | None) -> dict[str, Any] | None:
        if not cookie or not plausible_session_id(cookie):
            return None
        async with unit_of_work(self.sessions) as session:
            data = await repo.take_sign_in(session, hash_session_id(cookie))
        if data is None:
            return None
        state: dict[str, Any] = json.loads(data)
        return state

    def _touch_interval(self) -> timedelta:
        return min(timedelta(seconds=60), self.times.idle / 10)


def _at(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None


def _principal(row: Record, session_id: str) -> Principal:
    return Principal(
        key_id=None,
        name=row.name,
        roles=tuple(row.roles),
        key_prefix=None,
        session_id=row.id,
        csrf_token=csrf_token_of(session_id),
        display_name=row.display_name,
        email=row.email,
    )
