"""Administration: API keys and the audit log (role ``admin``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from gateway import auth
from gateway.audit import AuditPage, list_audit
from gateway.auth import ApiKeyPage, CreatedApiKey, Principal, require
from gateway.domain.roles import Role
from gateway.routes.params import PROBLEM_RESPONSES, DepsDep, IdPath, PageQ, PageSizeQ, note
from gateway.schemas import ApiKeyInput

router = APIRouter(tags=["admin"], responses=PROBLEM_RESPONSES)

Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


@router.post("/api-keys", status_code=201, response_model=CreatedApiKey)
async def create_api_key(body: ApiKeyInput, request: Request, deps: DepsDep, admin: Admin) -> CreatedApiKey:
    """A new key; the answer's ``key`` is the secret, shown this once (only its SHA-256 is kept). Without an expiry
    it lives the gateway's default lifetime (90 days); a key that never expires needs ``never_expires: true``.
    ``scopes`` limits a machine's key to some routes (a call outside them: 403 ``insufficient-scope``):
    ``workflows:read`` (every read), ``workflows:write`` (changes and approvals), ``publish`` (publish, online,
    offline, run, restore), ``lineage:write`` (``POST /lineage``), ``admin`` (keys, audit log)."""
    created = await auth.create_api_key(
        deps.sessions,
        name=body.name,
        roles=[r.value for r in body.roles],
        created_by=admin.name,
        expires_at=body.expiry(datetime.now(UTC), deps.settings.key_lifetime_days),
        scopes=None if body.scopes is None else [s.value for s in body.scopes],
    )
    limits = f"; scopes {','.join(created.scopes)}" if created.scopes is not None else ""
    until = created.expires_at.isoformat(timespec="seconds") if created.expires_at else "never"
    note(
        request,
        f"key {created.id} ({created.key_prefix}…) for {created.name}: {','.join(created.roles)}{limits}; "
        f"expires {until}",
    )
    return created


@router.get("/api-keys", response_model=ApiKeyPage)
async def list_api_keys(
    deps: DepsDep, _: Admin, include_revoked: bool = False, page: PageQ = 1, page_size: PageSizeQ = 20
) -> ApiKeyPage:
    return await auth.list_api_keys(deps.sessions, include_revoked=include_revoked, page=page, page_size=page_size)


@router.delete("/api-keys/{key_id}", status_code=204)
async def revoke_api_key(key_id: IdPath, request: Request, deps: DepsDep, _: Admin) -> Response:
    """Revoke a key (idempotent); the last active admin key cannot be revoked over HTTP (409)."""
    revoked = await auth.revoke_api_key(deps.sessions, key_id, verified=deps.verified_keys)
    note(request, f"revoked key {revoked.id} ({revoked.key_prefix}…) of {revoked.name}")
    return Response(status_code=204)


@router.get("/audit-log", response_model=AuditPage)
async def get_audit_log(
    deps: DepsDep,
    _: Admin,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    path: Annotated[str | None, Query(max_length=512, description="path starts with")] = None,
    outcome: Literal["success", "failure"] | None = None,
    page: PageQ = 1,
    page_size: PageSizeQ = 50,
) -> AuditPage:
    """Mutating calls, newest first."""
    return await list_audit(deps.sessions, actor=actor, path=path, outcome=outcome, page=page, page_size=page_size)
