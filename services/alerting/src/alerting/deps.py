"""The alerting service's dependencies, built once in ``main.wire`` (tests build them with their own adapters)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alerting.config import ChannelConfig, Settings
from alerting.domain.render import Links
from alerting.ports import DefinitionClient, HistoryClient, Notifier, PublisherClient, TicketSink
from common.clock import Clock, SystemClock


@dataclass
class Deps:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    #: channel name -> notifier and its configuration (rate limit)
    notifiers: Mapping[str, Notifier]
    channels: Mapping[str, ChannelConfig]
    tickets: TicketSink
    definition: DefinitionClient
    publisher: PublisherClient
    history: HistoryClient
    clock: Clock = field(default_factory=SystemClock)

    @property
    def links(self) -> Links:
        return Links(self.settings.portal_url, self.settings.ds_ui_url)
