"""Kafka: ``publish.requested`` → accept the request (thin; the workers publish it).

``workflow.version.created`` is deliberately not consumed: ``publish.requested`` carries the pinned snapshot, so
the publisher needs nothing from it, and pre-allocating DS task codes for versions that may never be published would
call DS for nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession

from common.consumer import Delivery
from common.events.models import PublishRequested
from common.runtime import Infra
from publisher.deps import Deps
from publisher.service import acceptance


def register_subscribers(infra: Infra, deps: Deps) -> None:
    async def on_publish_requested(session: AsyncSession, delivery: Delivery[PublishRequested]) -> None:
        await acceptance.accept_publish(session, deps, delivery.event)

        def wake(_session: Any) -> None:
            deps.wake()

        # the workers can see the record only once the inbox transaction has committed
        sa_event.listen(session.sync_session, "after_commit", wake, once=True)

    infra.subscribe(on_publish_requested, event=PublishRequested)
