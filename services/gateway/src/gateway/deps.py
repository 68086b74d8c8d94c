"""``Deps``: what the routes and use cases need, built once in the app's lifespan (tests build it with fakes)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.config import Settings
from gateway.ports import DefinitionApi, HistoryApi, LineageApi, PublisherApi


@dataclass
class Deps:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    definition: DefinitionApi
    publisher: PublisherApi
    history: HistoryApi
    lineage: LineageApi


def get_deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps
