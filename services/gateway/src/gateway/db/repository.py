"""Every query of the gateway. Functions take the use case's session, ``flush`` when they write, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeAlias

from sqlalchemy import Row, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.tables import api_key, audit_log, sign_in_attempt, web_session

#: a result row (columns by attribute)
Record: TypeAlias = Row[Any]

KEY_COLUMNS = (
    api_key.c.id,
    api_key.c.name,
    api_key.c.key_prefix,
    api_key.c.roles,
    api_key.c.created_at,
    api_key.c.created_by,
    api_key.c.revoked_at,
    api_key.c.last_used_at,
    api_key.c.expires_at,
    api_key.c.scopes,
)


async def insert_key(
    session: AsyncSession,
    *,
    name: str,
    prefix: str,
    digest: str,
    roles: Sequence[str],
    created_by: str,
    expires_at: datetime | None,
    scopes: Sequence[str] | None = None,
) -> Record:
    row = (
        await session.execute(
            api_key.insert()
            .values(
                name=name,
                key_prefix=prefix,
                key_hash=digest,
                roles=list(roles),
                created_by=created_by,
                expires_at=expires_at,
                scopes=None if scopes is None else list(scopes),
            )
            .returning(*KEY_COLUMNS)
        )
    ).one()
    await session.flush()
    return row


async def key_by_hash(session: AsyncSession, digest: str) -> Record | None:
    return (await session.execute(select(*KEY_COLUMNS).where(api_key.c.key_hash == digest))).one_or_none()


async def key_by_id(session: AsyncSession, key_id: int) -> Record | None:
    return (await session.execute(select(*KEY_COLUMNS).where(api_key.c.id == key_id))).one_or_none()


async def touch_key(session: AsyncSession, key_id: int, *, min_interval: timedelta) -> None:
    """Record the use of a key, at most once per ``min_interval`` (no row lock when nothing is written)."""
    await session.execute(
        update(api_key)
        .where(
            api_key.c.id == key_id,
            or_(api_key.c.last_used_at.is_(None), api_key.c.last_used_at < func.now() - min_interval),
        )
        .values(last_used_at=func.now())
    )
    await session.flush()


async def set_roles(session: AsyncSession, key_id: int, roles: Sequence[str]) -> None:
    await session.execute(update(api_key).where(api_key.c.id == key_id).values(roles=list(roles)))
    await session.flush()


async def list_keys(
    session: AsyncSession, *, include_revoked: bool, page: int, page_size: int
) -> tuple[list[Record], int]:
    cond = [] if include_revoked else [api_key.c.revoked_at.is_(None)]
    total = (await session.execute(select(func.count()).select_from(api_key).where(*cond))).scalar_one()
    rows = (
        await session.execute(
            select(*KEY_COLUMNS).where(*cond).order_by(api_key.c.id).limit(page_size).offset((page - 1) * page_size)
        )
    ).all()
    return list(rows), int(total)


async def revoke_key(session: AsyncSession, key_id: int) -> Record | None:
    """Set ``revoked_at`` (kept when already revoked); ``None`` when the key does not exist."""
    await session.execute(
        update(api_key).where(api_key.c.id == key_id, api_key.c.revoked_at.is_(None)).values(revoked_at=func.now())
    )
    await session.flush()
    return await key_by_id(session, key_id)


async def lock_active_admins(session: AsyncSession) -> list[int]:
    """Ids of the keys that can still administer (not revoked, not expired, the role ``admin`` and no scopes or the
    scope ``admin``), locked until the end of the transaction (two concurrent revocations cannot both see "another
    admin is left")."""
    rows = await session.execute(
        select(api_key.c.id)
        .where(
            api_key.c.revoked_at.is_(None),
            api_key.c.roles.contains(["admin"]),
            or_(api_key.c.expires_at.is_(None), api_key.c.expires_at > func.now()),
            or_(api_key.c.scopes.is_(None), api_key.c.scopes.contains(["admin"])),
        )
        .order_by(api_key.c.id)
        .with_for_update()
    )
    return [int(r) for r in rows.scalars()]


async def insert_audit(
    session: AsyncSession,
    *,
    actor: str | None,
    method: str,
    path: str,
    resource: str | None,
    status_code: int,
    outcome: str,
    request_id: str,
    detail: str | None,
) -> None:
    await session.execute(
        audit_log.insert().values(
            actor=actor,
            method=method,
            path=path,
            resource=resource,
            status_code=status_code,
            outcome=outcome,
            request_id=request_id,
            detail=detail,
        )
    )
    await session.flush()


def _like_prefix(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def list_audit(
    session: AsyncSession,
    *,
    actor: str | None,
    path_prefix: str | None,
    outcome: str | None,
    page: int,
    page_size: int,
) -> tuple[list[Record], int]:
    conds = []
    if actor is not None:
        conds.append(audit_log.c.actor == actor)
    if path_prefix is not None:
        conds.append(audit_log.c.path.like(_like_prefix(path_prefix), escape="\\"))
    if outcome is not None:
        conds.append(audit_log.c.outcome == outcome)
    where = and_(*conds) if conds else None
    count_q = select(func.count()).select_from(audit_log)
    rows_q = select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
    if where is not None:
        count_q = count_q.where(where)
        rows_q = rows_q.where(where)
    total = (await session.execute(count_q)).scalar_one()
    rows = (await session.execute(rows_q.limit(page_size).offset((page - 1) * page_size))).all()
    return list(rows), int(total)


# ------------------------------------------------------------------------------------------------- people's sessions

SESSION_COLUMNS = (
    web_session.c.id,
    web_session.c.subject,
    web_session.c.name,
    web_session.c.display_name,
    web_session.c.email,
    web_session.c.roles,
    web_session.c.tokens,
    web_session.c.access_expires_at,
    web_session.c.created_at,
    web_session.c.last_seen_at,
)


async def insert_session(
    session: AsyncSession,
    *,
    digest: str,
    subject: str,
    name: str,
    display_name: str | None,
    email: str | None,
    roles: Sequence[str],
    tokens: bytes,
    access_expires_at: datetime | None,
) -> Record:
    row = (
        await session.execute(
            web_session.insert()
            .values(
                id_hash=digest,
                subject=subject,
                name=name,
                display_name=display_name,
                email=email,
                roles=list(roles),
                tokens=tokens,
                access_expires_at=access_expires_at,
            )
            .returning(*SESSION_COLUMNS)
        )
    ).one()
    await session.flush()
    return row


async def session_by_hash(session: AsyncSession, digest: str, *, lock: bool = False) -> Record | None:
    query = select(*SESSION_COLUMNS).where(web_session.c.id_hash == digest)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).one_or_none()


async def touch_session(session: AsyncSession, session_id: int, *, min_interval: timedelta) -> None:
    """Record a request of the session (its idle expiry), at most once per ``min_interval``."""
    await session.execute(
        update(web_session)
        .where(web_session.c.id == session_id, web_session.c.last_seen_at < func.now() - min_interval)
        .values(last_seen_at=func.now())
    )


async def refresh_session(
    session: AsyncSession, session_id: int, *, tokens: bytes, access_expires_at: datetime | None
) -> None:
    await session.execute(
        update(web_session)
        .where(web_session.c.id == session_id)
        .values(tokens=tokens, access_expires_at=access_expires_at, last_seen_at=func.now())
    )


async def delete_session(session: AsyncSession, session_id: int) -> None:
    await session.execute(delete(web_session).where(web_session.c.id == session_id))


async def take_session(session: AsyncSession, digest: str) -> Record | None:
    """Delete the session and return it (sign-out)."""
    return (
        await session.execute(delete(web_session).where(web_session.c.id_hash == digest).returning(*SESSION_COLUMNS))
    ).one_or_none()


async def insert_sign_in(session: AsyncSession, *, digest: str, data: str, ttl: timedelta) -> None:
    await session.execute(delete(sign_in_attempt).where(sign_in_attempt.c.expires_at < func.now()))
    await session.execute(sign_in_attempt.insert().values(id_hash=digest, data=data, expires_at=func.now() + ttl))


async def take_sign_in(session: AsyncSession, digest: str) -> str | None:
    """The sign-in's data, deleted (used once); ``None`` when unknown or expired."""
    data: str | None = (
        await session.execute(
            delete(sign_in_attempt)
            .where(sign_in_attempt.c.id_hash == digest, sign_in_attempt.c.expires_at > func.now())
            .returning(sign_in_attempt.c.data)
        )
    ).scalar_one_or_none()
    return data
