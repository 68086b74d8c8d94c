"""Consumer lag per topic and group: the committed offset of a group against the end offset of each partition.

Every service runs one ``ConsumerLagMonitor`` for the consumer groups it owns; it refreshes the
``kafka_consumer_lag{group,topic}`` gauge (sum over partitions) every ``interval_s``. A partition the group has never
committed counts from its beginning offset, so a new group that has not consumed anything shows its full backlog.

Right after a broker restart the group coordinator answers the committed offsets with nothing at all while it loads
them; counting from the beginning then would show the whole topic as lag for a moment (a false ``ConsumerLagHigh``).
So a partition whose commit this monitor has seen before and that the answer leaves out makes the answer incomplete:
that group and topic keep their last value until the coordinator answers in full.

The monitor keeps its two clients between refreshes (re-made after a failed one): a client's start fetches the
metadata of every topic of the cluster, which on a cluster with thousands of topics (a shared broker, a CI broker
after many test runs) took a service ~0.3 s of CPU, holding its event loop, at each refresh. After the start its
metadata refreshes ask for the watched topics only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import Gauge

from common.kafka_access import KafkaAccess

log = logging.getLogger(__name__)

CONSUMER_LAG = Gauge(
    "kafka_consumer_lag", "Messages not yet consumed by the group (end − committed)", ["group", "topic"]
)


class ConsumerLagMonitor:
    def __init__(self, kafka: KafkaAccess | str, groups: Mapping[str, set[str]], *, interval_s: float = 15.0) -> None:
        """``groups`` maps a consumer group id to the topics it consumes."""
        self._kafka = KafkaAccess.of(kafka)
        self._groups = {g: set(t) for g, t in groups.items()}
        self._interval = interval_s
        self._stopping = asyncio.Event()
        self._clients: tuple[AIOKafkaAdminClient, AIOKafkaConsumer] | None = None
        #: (group, partition) pairs whose committed offset this monitor has seen
        self._committed_seen: set[tuple[str, TopicPartition]] = set()
        self._last: dict[tuple[str, str], int] = {}

    def watch(self, group: str, topic: str) -> None:
        self._groups.setdefault(group, set()).add(topic)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    await self.refresh()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("consumer lag refresh failed", exc_info=True)
                    await self.aclose()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Close the clients (the next refresh makes new ones)."""
        clients, self._clients = self._clients, None
        if clients is not None:
            admin, offsets = clients
            with contextlib.suppress(Exception):
                await offsets.stop()
            with contextlib.suppress(Exception):
                await admin.close()

    async def _connected(self, topics: list[str]) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._clients is None:
            admin = AIOKafkaAdminClient(**self._kafka.client_options())
            offsets = AIOKafkaConsumer(**self._kafka.client_options(), enable_auto_commit=False)
            try:
                await admin.start()
                await offsets.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await offsets.stop()
                with contextlib.suppress(Exception):
                    await admin.close()
                raise
            self._clients = (admin, offsets)
        admin, offsets = self._clients
        # its metadata refreshes (and the forced one below) ask for these topics only
        await offsets._client.set_topics(topics)
        return admin, offsets

    async def refresh(self) -> dict[tuple[str, str], int]:
        """Measure once; returns ``{(group, topic): lag}`` and updates the gauge (a group and topic whose committed
        offsets came back incomplete keep their last value). The clients stay open for the next refresh: close them
        with :meth:`aclose` (``run`` does)."""
        if not self._groups:
            return {}
        topics = sorted({t for ts in self._groups.values() for t in ts})
        admin, offsets = await self._connected(topics)
        partitions: list[TopicPartition] = []
        for topic in topics:
            parts = offsets.partitions_for_topic(topic)
            if parts is None:
                await offsets._client.force_metadata_update()
                parts = offsets.partitions_for_topic(topic) or set()
            partitions += [TopicPartition(topic, p) for p in sorted(parts)]
        ends = await offsets.end_offsets(partitions) if partitions else {}
        begins = await offsets.beginning_offsets(partitions) if partitions else {}
        result: dict[tuple[str, str], int] = {}
        for group, group_topics in self._groups.items():
            committed = await admin.list_consumer_group_offsets(group)
            for topic in group_topics:
                lag, complete = 0, True
                for tp in (tp for tp in partitions if tp.topic == topic):
                    meta = committed.get(tp)
                    if meta is not None and meta.offset >= 0:
                        self._committed_seen.add((group, tp))
                        done = meta.offset
                    elif (group, tp) in self._committed_seen:
                        complete = False  # the coordinator left out a commit it had: no answer to count from
                        break
                    else:
                        done = begins.get(tp, 0)
                    lag += max(0, ends.get(tp, 0) - done)
                if not complete:
                    log.info("committed offsets of %s on %s incomplete (coordinator loading?); lag kept", group, topic)
                    if (group, topic) in self._last:
                        result[(group, topic)] = self._last[(group, topic)]
                    continue
                result[(group, topic)] = self._last[(group, topic)] = lag
                CONSUMER_LAG.labels(group, topic).set(lag)
        return result
