"""Consumer lag from the broker's own books, measured on a clock, not when a message is handled.

A group's lag is, summed over the partitions of its topics, the partition's end offset minus the offset the
group committed there (the group commits only after a handler's effects committed, ``harbour.kafka.consumer``,
so the committed offset is what is done). A partition the group never committed to is read from its start
(``auto_offset_reset="earliest"``), so all of it is lag. Measured from the broker, the lag grows while the topic
grows whatever the consumer does: a consumer stuck in a handler, in a rebalance, or with no member left at all
shows its lag rising, where a lag taken from the last message handled stayed at its last value.

Every replica of a service measures the same group-wide number (the alert reads it with ``max``); the cost is two
short-lived clients every ``HARBOUR_CONSUMER_LAG_SECONDS``: nothing is cached from a broker that has since
restarted, as for the relay's look for a loss (``harbour.kafka.rebuild``). A measurement that fails leaves the
last value (a broker away is the relay's alert) and is tried again at the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from harbour import telemetry
from harbour.kafka.security import client_options
from harbour.settings import HarbourSettings

log = logging.getLogger("harbour.consumer.lag")


def group_lag(
    ends: Mapping[TopicPartition, int], starts: Mapping[TopicPartition, int], committed: Mapping[TopicPartition, int]
) -> int:
    """Messages the group has still to do: per partition, the end minus the committed offset (or the start of the
    log where it committed none: a negative or missing offset), never below zero."""
    lag = 0
    for tp, end in ends.items():
        done = committed.get(tp, -1)
        lag += max(0, end - (done if done >= 0 else starts.get(tp, 0)))
    return lag


class ConsumerLagWatch:
    """Measures the lag of each of a service's consumer groups every ``settings.consumer_lag_seconds``."""

    def __init__(
        self,
        *,
        service: str,
        bootstrap: str,
        settings: HarbourSettings,
        groups: Mapping[str, tuple[str, Sequence[str]]],
    ) -> None:
        self.service = service
        self.bootstrap = bootstrap
        self.settings = settings
        self.groups = dict(groups)  # consumer name (the metric's label) -> (group id, its topics)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"consumer-lag:{self.service}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(max(5.0, self.settings.consumer_lag_seconds)):
                    await self.measure_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the broker away: keep the last value, try again at the next tick
                log.debug("consumer lag not measured: %s", type(error).__name__)
            await asyncio.sleep(self.settings.consumer_lag_seconds)

    async def measure_once(self) -> dict[str, int]:
        """Each group's lag now (also set on ``harbour_consumer_lag_messages``)."""
        options = client_options(self.settings)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                    request_timeout_ms=5000, **options)  # fmt: skip
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000, **options)
        await consumer.start()
        try:
            await admin.start()
            cluster = await consumer._client.fetch_all_metadata()
            partitions = {topic: [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]
                          for _, topics in self.groups.values() for topic in topics}  # fmt: skip
            every = [tp for tps in partitions.values() for tp in tps]
            ends = await consumer.end_offsets(every) if every else {}
            starts = await consumer.beginning_offsets(every) if every else {}
            lags: dict[str, int] = {}
            for name, (group_id, topics) in self.groups.items():
                mine = [tp for topic in topics for tp in partitions[topic]]
                offsets = await admin.list_consumer_group_offsets(group_id, partitions=mine) if mine else {}
                committed = {tp: meta.offset for tp, meta in offsets.items()}
                lags[name] = group_lag({tp: ends[tp] for tp in mine}, starts, committed)
                telemetry.CONSUMER_LAG.labels(self.service, name).set(lags[name])
            return lags
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
            with contextlib.suppress(Exception):
                await consumer.stop()
