"""Bearer API keys: authentication, roles, and the key management use cases (HTTP, CLI and start-up share them).

A request's ``Authorization: Bearer <key>`` is hashed (SHA-256) and looked up by that hash; the key's ``name`` is the
acting user. 401 for a missing, unknown or revoked key, and ``api-key-expired`` past its ``expires_at``; 403 when the
key lacks the role, and ``insufficient-scope`` when it is limited to scopes (``gateway.domain.scopes``) without the
route's. The secret is never logged, stored or echoed (only its 8-character prefix is shown). The last use of a key is
written at most once per ``GATEWAY_KEY_TOUCH_INTERVAL_S`` (and only when the key was not in ``VerifiedKeys``).

A key found valid is remembered in the process (``VerifiedKeys``, by its hash, never the secret) for
``GATEWAY_KEY_CACHE_TTL_S`` (default 5 s; never past the key's expiry), so most requests need no database round trip.
Revocation therefore takes effect within that bound in every gateway process, and at once in the process that revoked
it; unknown, revoked and expired keys are never remembered (each such request asks the database).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import unit_of_work
from common.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from gateway.db import repository as repo
from gateway.db.repository import Record
from gateway.deps import Deps, get_deps
from gateway.domain.keys import check_expiry, expired, from_secret, hash_key, new_key, plausible
from gateway.domain.roles import Role, grants, parse_roles
from gateway.domain.scopes import parse_scopes, permits, scope_for, unusable
from gateway.ports import Caller
from gateway.principals import Principal, VerifiedKeys

__all__ = ["Principal", "VerifiedKeys"]

log = logging.getLogger(__name__)

BOOTSTRAP_ADMIN_NAME = "admin"

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API key: `Authorization: Bearer <key>` (create one with `python -m gateway keys create` or "
    "`POST /api/v1/api-keys`). A key acts with its roles, within its scopes if it has any (`workflows:read`, "
    "`workflows:write`, `publish`, `lineage:write`, `admin`), until its `expires_at`.",
)


class KeyExpired(Unauthorized):
    code = "api-key-expired"
    title = "API key expired"


class ScopeMissing(Forbidden):
    code = "insufficient-scope"
    title = "Scope missing"


class ApiKeyView(BaseModel):
    id: int
    name: str
    key_prefix: str
    roles: list[str]
    scopes: list[str] | None = Field(description="the only scopes the key may use; null: no limit but its roles")
    created_at: datetime
    created_by: str
    expires_at: datetime | None = Field(description="refused from then on; null: never expires")
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(
        description="its last use, written at most once per GATEWAY_KEY_TOUCH_INTERVAL_S (60 s)"
    )
    status: Literal["active", "expired", "revoked"] = Field(description="revoked wins over expired")

    @classmethod
    def of(cls, row: Record) -> ApiKeyView:
        if row.revoked_at is not None:
            status: Literal["active", "expired", "revoked"] = "revoked"
        elif expired(row.expires_at, datetime.now(UTC)):
            status = "expired"
        else:
            status = "active"
        return cls(
            id=row.id,
            name=row.name,
            key_prefix=row.key_prefix,
            roles=list(row.roles),
            scopes=None if row.scopes is None else list(row.scopes),
            created_at=row.created_at,
            created_by=row.created_by,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            last_used_at=row.last_used_at,
            status=status,
        )


class CreatedApiKey(ApiKeyView):
    #: the secret, shown this once; only its SHA-256 is stored
    key: str


class ApiKeyPage(BaseModel):
    items: list[ApiKeyView]
    total: int
    page: int
    page_size: int


# ---------------------------------------------------------------------------------------------------------- use cases


async def authenticate(deps: Deps, secret: str) -> Principal:
    if not plausible(secret):
        raise Unauthorized("unknown API key")
    digest = hash_key(secret)
    known = deps.verified_keys.get(digest)
    if known is not None:
        return known
    async with unit_of_work(deps.sessions) as session:
        row = await repo.key_by_hash(session, digest)
        if row is None:
            raise Unauthorized("unknown API key")
        if row.revoked_at is not None:
            raise Unauthorized("this API key has been revoked")
        if expired(row.expires_at, datetime.now(UTC)):
            raise KeyExpired(f"this API key expired at {row.expires_at.isoformat(timespec='seconds')}")
        interval = timedelta(seconds=deps.settings.key_touch_interval_s)
        # Most requests of a key fall inside the interval: skip the UPDATE's round trip then (the UPDATE's own
        # condition still decides when two requests race).
        if row.last_used_at is None or row.last_used_at < datetime.now(UTC) - interval:
            await repo.touch_key(session, row.id, min_interval=interval)
    principal = Principal(
        key_id=row.id,
        name=row.name,
        roles=tuple(row.roles),
        key_prefix=row.key_prefix,
        scopes=None if row.scopes is None else frozenset(row.scopes),
        expires_at=row.expires_at,
    )
    deps.verified_keys.put(digest, principal)
    return principal


async def create_api_key(
    sessions: async_sessionmaker[AsyncSession],
    *,
    name: str,
    roles: Sequence[str],
    created_by: str,
    expires_at: datetime | None,
    scopes: Sequence[str] | None = None,
) -> CreatedApiKey:
    """A new key for user ``name``, refused from ``expires_at`` (``None``: never, which only an admin chooses on
    purpose) and limited to ``scopes`` (``None``: only by its roles); the answer holds the secret (show it once)."""
    name = name.strip()
    if not name or len(name) > 128:
        raise ValidationFailed("name must be 1 to 128 characters")
    try:
        parsed = parse_roles(roles)
        limited = None if scopes is None else parse_scopes(scopes)
        if expires_at is not None:
            check_expiry(expires_at, datetime.now(UTC))
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from None
    useless = unusable([r.value for r in parsed], limited or [])
    if useless:
        names = ", ".join(f"'{s.value}'" for s in useless)
        raise ValidationFailed(f"the roles {', '.join(r.value for r in parsed)} cannot use the scopes {names}")
    material = new_key()
    async with unit_of_work(sessions) as session:
        row = await repo.insert_key(
            session,
            name=name,
            prefix=material.prefix,
            digest=material.digest,
            roles=[r.value for r in parsed],
            created_by=created_by,
            expires_at=expires_at,
            scopes=None if limited is None else [s.value for s in limited],
        )
    return CreatedApiKey(**ApiKeyView.of(row).model_dump(), key=material.secret)


async def list_api_keys(
    sessions: async_sessionmaker[AsyncSession], *, include_revoked: bool, page: int, page_size: int
) -> ApiKeyPage:
    async with unit_of_work(sessions) as session:
        rows, total = await repo.list_keys(session, include_revoked=include_revoked, page=page, page_size=page_size)
    return ApiKeyPage(items=[ApiKeyView.of(r) for r in rows], total=total, page=page, page_size=page_size)


async def revoke_api_key(
    sessions: async_sessionmaker[AsyncSession],
    key_id: int,
    *,
    allow_last_admin: bool = False,
    verified: VerifiedKeys | None = None,
) -> ApiKeyView:
    """Revoke a key (idempotent). Revoking the last active admin key is refused unless ``allow_last_admin``
    (the CLI's ``--force``): over HTTP that would lock every administrator out. ``verified``: this process's
    verified keys, which forget the key at once (other processes within their TTL)."""
    async with unit_of_work(sessions) as session:
        admins = await repo.lock_active_admins(session)
        row = await repo.key_by_id(session, key_id)
        if row is None:
            raise NotFound(f"API key {key_id} does not exist", key_id=key_id)
        if not allow_last_admin and admins == [key_id]:
            raise Conflict(
                f"API key {key_id} is the last active admin key; create another admin key first", key_id=key_id
            )
        revoked = await repo.revoke_key(session, key_id)
    assert revoked is not None
    if verified is not None:
        verified.forget(key_id)
    return ApiKeyView.of(revoked)


async def ensure_bootstrap_admin(sessions: async_sessionmaker[AsyncSession], token: SecretStr) -> None:
    """Make sure an admin key with exactly this secret exists (``GATEWAY_BOOTSTRAP_ADMIN_TOKEN``), without expiry or
    scopes: it lives as long as the configuration names it. A key with that secret that was revoked stays revoked:
    revocation is deliberate; configure a new token instead."""
    material = from_secret(token.get_secret_value())
    async with unit_of_work(sessions) as session:
        row = await repo.key_by_hash(session, material.digest)
        if row is None:
            await repo.insert_key(
                session,
                name=BOOTSTRAP_ADMIN_NAME,
                prefix=material.prefix,
                digest=material.digest,
                roles=[Role.ADMIN.value],
                created_by="bootstrap",
                expires_at=None,
            )
            log.info("bootstrap admin key created (prefix %s)", material.prefix)
        elif row.revoked_at is not None:
            log.warning("the bootstrap admin key (prefix %s) is revoked; it stays revoked", material.prefix)
        elif Role.ADMIN.value not in row.roles:
            await repo.set_roles(session, row.id, [*row.roles, Role.ADMIN.value])


# ------------------------------------------------------------------------------------------------ FastAPI dependencies


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    deps: Annotated[Deps, Depends(get_deps)],
) -> Principal:
    # checked before the body was read (gateway.guard.ApiGuard); looked up here only outside it (tests of a router)
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        if credentials is None:
            raise Unauthorized("missing bearer token: send 'Authorization: Bearer <API key>'")
        principal = await authenticate(deps, credentials.credentials)
    request.state.actor = principal.name
    return principal


def _check_role(principal: Principal, role: Role) -> Principal:
    if not grants(principal.roles, role):
        held = ", ".join(principal.roles)
        whose = f"the key of {principal.name}" if principal.key_id is not None else principal.name
        raise Forbidden(f"this call needs the role '{role.value}' ({whose} has: {held})")
    if principal.scopes is not None:
        scope = scope_for(role)
        if not permits(principal.scopes, scope):
            limited = ", ".join(sorted(principal.scopes))
            raise ScopeMissing(
                f"this call needs the scope '{scope.value}' (the key of {principal.name} is limited to: {limited})",
                scope=scope.value,
            )
    return principal


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    async def _check(principal: Principal = Depends(current_principal)) -> Principal:
        return _check_role(principal, role)

    return _check


def acting(role: Role) -> Callable[..., Awaitable[Caller]]:
    """The ``Caller`` (user name + request id) of a request whose key holds ``role``. One dependency level over the
    bearer scheme (not ``require`` → ``current_principal``, and ``Deps`` read directly): every nested dependency
    costs FastAPI a resolution pass per request, and every API call goes through this one."""

    async def _caller(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
    ) -> Caller:
        principal = _check_role(await current_principal(request, credentials, await get_deps(request)), role)
        return Caller(
            actor=principal.name, request_id=str(getattr(request.state, "request_id", "")), roles=principal.roles
        )

    return _caller
