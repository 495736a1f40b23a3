"""Offsets of handled records, committed together a moment later instead of one OffsetCommit per record.

FastStream acknowledges a record by ``consumer.commit()``: a round trip to the group coordinator for every record,
which under bench.e2e was a tenth of a consuming service's CPU and as many requests again for the broker as the
fetches themselves. A commit is only a bookmark here: the inbox (harbour.kafka.consumer) makes a record read
twice apply once, so a bookmark that lags by a fraction of a second costs, after a crash or a rebalance, only
that fraction read again. What must never happen is a bookmark *ahead* of what was handled, so:

- the offsets committed are explicit, each the one after a record whose handling ended (never the consumer's
  positions, which run ahead of the record being handled);
- a seek (a nack sends its record back; a relay's new epoch rewinds the partition to 0) sets the partition's
  bookmark to where the consumer will read next, and the record whose handling asked for it counts as unread;
- the bookmarks go out ``delay`` seconds after the first record handled since the last commit, before a
  rebalance takes partitions away, and when the consumer stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

log = logging.getLogger("harbour.consumer")


class OffsetCommits:
    """The bookmarks of one Kafka consumer (one subscriber: its group's member in this process)."""

    def __init__(self, delay: float, *, timeout: float = 2.0) -> None:
        self.delay = delay
        self.timeout = timeout  # seconds a commit may take before its bookmarks wait for the next one
        self.consumer: Any = None  # the AIOKafkaConsumer, learnt from the first record (FastStream makes it at start)
        self._pending: dict[TopicPartition, int] = {}
        self._flush: asyncio.Task[None] | None = None

    def acknowledger(self, consumer: Any, record: ConsumerRecord) -> RecordAck:
        """What a record's message commits and seeks through, in place of the consumer itself."""
        if consumer is not self.consumer:
            # A subscriber started again has a new consumer: the old one's bookmarks went (or not) with it.
            self.consumer, self._pending = consumer, {}
        return RecordAck(self, record)

    def handled(self, record: ConsumerRecord) -> None:
        self._pending[TopicPartition(record.topic, record.partition)] = record.offset + 1
        if self._flush is None or self._flush.done():
            self._flush = asyncio.create_task(self._flush_later(), name="harbour.commits")

    def sought(self, partition: TopicPartition, offset: int) -> None:
        self._pending[partition] = offset

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.delay)
        await self.flush()

    async def flush(self) -> None:
        """Commit every bookmark now. A commit the group refuses (the partition went to another member, the broker
        is away) is dropped: that member, or this one later, reads from the last bookmark the group kept."""
        pending, self._pending = self._pending, {}
        if not pending or self.consumer is None:
            return
        try:
            # Bounded: a flush runs inside a rebalance and before a stop, and a broker that is away must hold up
            # neither (aiokafka retries a commit while it finds no coordinator).
            async with asyncio.timeout(self.timeout):
                await self.consumer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in pending.items()})
        except (KafkaError, AssertionError, TimeoutError) as error:
            # AssertionError: aiokafka asserts that a committed partition is assigned; after a rebalance it may not be.
            log.debug("offset commit dropped (%s): those records may be read again", type(error).__name__)
            for tp, offset in pending.items():
                self._pending.setdefault(tp, offset)  # a newer bookmark of the same partition wins

    async def close(self) -> None:
        if self._flush is not None and not self._flush.done():
            self._flush.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flush
        with contextlib.suppress(Exception):
            await self.flush()
        self._pending = {}


class RecordAck:
    """Stands for the consumer in one record's FastStream message: its ``commit`` (the ack) bookmarks this record,
    its ``seek`` (the nack, the rewind) moves the partition's bookmark back and leaves this record unread."""

    def __init__(self, commits: OffsetCommits, record: ConsumerRecord) -> None:
        self.commits = commits
        self.record = record
        self._unread = False

    async def commit(self) -> None:
        if not self._unread:
            self.commits.handled(self.record)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.commits.consumer.seek(partition, offset)  # first: a partition no longer assigned raises, nothing moves
        self.commits.sought(partition, offset)
        if partition == TopicPartition(self.record.topic, self.record.partition):
            self._unread = True
