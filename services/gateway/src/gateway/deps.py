"""``Deps``: what the routes and use cases need, built once in the app's lifespan (tests build it with fakes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.config import Settings
from gateway.ports import DefinitionApi, HistoryApi, LineageApi, PublisherApi
from gateway.principals import VerifiedKeys

if TYPE_CHECKING:
    from gateway.sessions import SessionService


@dataclass
class Deps:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    definition: DefinitionApi
    publisher: PublisherApi
    history: HistoryApi
    lineage: LineageApi
    #: API keys found valid, trusted for ``settings.key_cache_ttl_s`` (see ``gateway.auth``)
    verified_keys: VerifiedKeys = field(default_factory=lambda: VerifiedKeys(0))
    #: people's sign-in sessions (``gateway.sessions``); ``None`` when no OIDC provider is configured
    web_sessions: SessionService | None = None


async def get_deps(request: Request) -> Deps:
    """Async on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hand-off per request."""
    deps: Deps = request.app.state.deps
    return deps
