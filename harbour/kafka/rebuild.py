"""Kafka rebuilt from the stores: a relay notices when the broker lost what it had acknowledged.

The event store is the only source of truth and Kafka a distribution log; a broker that loses its log (the
development broker keeps everything in memory; a production cluster may lose a topic or, after an unclean
leader election, the tail of a partition) must not lose events for good. Each relay keeps, per topic-partition
it published to, what the broker acknowledged there (``relay_acks``, migration 0008, written in the
transaction that moves its checkpoint): the offset and fingerprint of the last acknowledged record, and of
an older one (the anchor) found in place since. The broker lost something when

- a topic or partition the relay published to is gone;
- a batch is acknowledged at or below an offset acknowledged earlier on the same partition: its log started
  again (a domain topic has one writer, its relay, so this shows at the very next batch);
- the record at the anchor's or at the last offset is another record than the one acknowledged there, or the
  log now ends before it. Offsets alone cannot tell: another service may recreate a lost topic and fill it past
  this relay's offsets before this relay looks (every service's milestone relay writes the audience topics).

The check (``AckLedger.verify``) runs when a relay takes the lead (so a service restart checks what the last
run acknowledged), before the first batch after any failure, and every ``relay_loss_check_seconds``. The anchor
moves up to the last record only once that record was found in place, so a loss between two checks shows on
records acknowledged before it even when the relay goes on publishing on the new, empty log in between. What
it cannot see: a partition truncated between the anchor and the last record (an unclean election keeps a log's
head) and refilled past the last record by other writers before the next look; a relay that writes the
partition alone sees that too (its next batch lands below its last offset).

On a loss the relay puts its checkpoint back to the start of the store (position 0) and publishes everything
again, in store order; consumers dedupe through their inbox. Why from the start and no later: the broker may
have lost any record it ever had (a restarted memory broker has none; a recreated topic has none), and which
of them each consumer group had read died with the group offsets; any later position would skip events that a
group which now restarts at "earliest" never saw. ``relay_rebuilds`` records each rebuild; the metrics
``harbour_relay_rebuilds_total`` and ``harbour_relay_republished_events_total`` and one warning line say it
happened and how far back it went.

Consumers (measured with aiokafka 0.14 on Tansu; tests/faults/test_broker_loss.py): a broker that restarted
empty no longer knows the group, so the next heartbeat or commit fails with an unknown member, the consumer
rejoins, and every rejoin starts from a fresh assignment whose positions come from the committed offsets, of
which the new broker has none: the group reads from the earliest offset. A commit from the old in-memory
position cannot reach the new broker (the member is unknown to it), so no group is left past records it never
read. Before its next heartbeat (``consumer_heartbeat_ms``) a consumer may still handle a few records from its
old position, ahead of records before them that it then reads again: once each (inbox), but out of order for
that moment. One thing needs help: a group that re-forms while its topics are still gone gets none of their
partitions, for minutes, and on Tansu for good (``AssignmentWatch``, the rebalance listener of every Harbour
consumer, rejoins it once they are back).

That reasoning holds for the broker; it did not always hold for the race around it. A commit of the old position
that reaches the broker after the rejoin, or a partition truncated under a group whose offsets survived (an
unclean leader election on Kafka), leaves a group at an offset past which the log published again has grown: it
goes on from there and skips what landed below it (seen once in CI: 393 of 400, a group back at its old offset
307 in a log published again to 300 and then grown). So each relay stamps its records with its epoch (header
``relay_epoch``: the relay's name and when it last published its store again), and every consumer keeps, per
topic-partition and relay, the highest epoch it read (``RelayEpochs``, table ``consumer_relay_epochs``). A record
of a higher epoch than the one read before on its partition means the log was published again under it: the
consumer leaves the record unread and reads the partition again from its start (its inbox dedupes what it had
applied). Whatever the group's offsets were, nothing below is skipped. The cost: one more reading of a partition
per rebuild that reaches it, also of a partition the broker had not lost (a rebuild publishes every topic again).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import OffsetOutOfRangeError

from harbour.db import Connection
from harbour.kafka.security import client_options
from harbour.settings import HarbourSettings

log = logging.getLogger("harbour.relay")

RELAY_EPOCH_HEADER = "relay_epoch"
FUTURE_EPOCH_SECONDS = 3600.0  # how far ahead of this clock a relay's epoch (its database's clock) may be
LOOK_SECONDS = 1.0  # how long a partition may stay silent before "no record at that offset" is believed
SECOND_LOOK_FACTOR = 5  # how much longer the look after one that found a log short waits for its records


def epoch_header(relay: str, epoch: int) -> tuple[str, bytes]:
    """The header a relay puts on every record: ``<relay>@<epoch>``."""
    return RELAY_EPOCH_HEADER, f"{relay}@{epoch}".encode()


def parse_epoch(value: str, *, now: float | None = None) -> tuple[str, int] | None:
    """The relay and its epoch from a ``relay_epoch`` header; None for anything else (a header of another writer
    is not a reason to read a partition again, nor poison).

    An epoch is a moment, so one later than an hour from now is no relay's: kept, it would sit above every real
    epoch of that relay and hide its next rebuild from this consumer; it is ignored instead."""
    relay, at, number = value.rpartition("@")
    if not at or not relay or not number.isascii() or not number.isdigit() or len(number) > 18:
        return None
    epoch = int(number)
    if epoch > ((time.time() if now is None else now) + FUTURE_EPOCH_SECONDS) * 1_000_000:
        return None
    return relay, epoch


@dataclass(slots=True)
class _Rewind:
    epochs: dict[str, int]  # per relay: the epoch that made the consumer read the partition again
    until: int  # the offset where it saw it: the new epochs count once the consumer is back there


class RelayEpochs:
    """One consumer's relay epochs per topic-partition (``consumer_relay_epochs``), and the rewinds they cause.

    ``rewinds`` is asked of every record before anything else, skipped types included (a foreign record of a higher
    epoch says the same as any other). It answers True when the record is to be left unread because the partition
    is being read again from its start; the caller then acknowledges nothing of it: the seek stands (FastStream's
    ack commits the consumer's positions, offset 0 for this partition, so a restart reads it again too). The new
    epoch is written only once the consumer is back at the offset where it saw it: a crash before that reads the
    partition again, never less.
    """

    def __init__(self, consumer: str) -> None:
        self.consumer = consumer
        self._seen: dict[tuple[str, int, str], int] | None = None
        self._rewinds: dict[tuple[str, int], _Rewind] = {}
        self.rewound = 0  # how many times a partition was read again (tests and logs)

    async def _load(self, conn: Connection) -> None:
        rows = await conn.fetch("SELECT topic, partition, relay, epoch FROM consumer_relay_epochs WHERE consumer = $1",
                                self.consumer)  # fmt: skip
        self._seen = {(r["topic"], r["partition"], r["relay"]): r["epoch"] for r in rows}

    async def _save(self, conn: Connection, topic: str, partition: int, epochs: Mapping[str, int]) -> None:
        relays = list(epochs)
        await conn.execute(
            """INSERT INTO consumer_relay_epochs AS e (consumer, topic, partition, relay, epoch)
               SELECT $1, $2, $3, r, n FROM unnest($4::text[], $5::bigint[]) AS u(r, n)
               ON CONFLICT (consumer, topic, partition, relay) DO UPDATE
                  SET epoch = greatest(e.epoch, EXCLUDED.epoch), updated_at = now()""",
            self.consumer, topic, partition, relays, [epochs[r] for r in relays],
        )  # fmt: skip
        seen = self._seen if self._seen is not None else {}
        for relay, epoch in epochs.items():
            seen[(topic, partition, relay)] = max(epoch, seen.get((topic, partition, relay), epoch))

    def forget(self, topic: str, partition: int) -> None:
        """A rewind of a partition this consumer no longer holds is its new holder's."""
        self._rewinds.pop((topic, partition), None)

    async def rewinds(self, pool: Any, kafka: Any, record: ConsumerRecord, header: str | None) -> bool:
        """Whether ``record`` makes its partition be read again from the start (and so stays unread now).
        ``kafka`` is the AIOKafkaConsumer that returned it; ``header`` the record's readable ``relay_epoch``."""
        tp = (record.topic, record.partition)
        pending = self._rewinds.get(tp)
        parsed = parse_epoch(header) if header is not None else None
        if pending is None and parsed is None:
            return False
        # The database only when an epoch is first read or changes: never per record.
        if self._seen is None:
            async with pool.acquire() as conn:
                await self._load(conn)
        assert self._seen is not None
        if pending is not None and record.offset >= pending.until:
            # Back where the new epoch showed: everything below it was read again.
            async with pool.acquire() as conn:
                await self._save(conn, record.topic, record.partition, pending.epochs)
            del self._rewinds[tp]
            pending = None
        if parsed is None:
            return False
        relay, epoch = parsed
        known = pending.epochs.get(relay) if pending is not None else None
        if known is None:
            known = self._seen.get((record.topic, record.partition, relay))
        if known is None:  # the first record of this relay the consumer reads on the partition
            async with pool.acquire() as conn:
                await self._save(conn, record.topic, record.partition, {relay: epoch})
            return False
        if epoch <= known:
            return False
        if pending is None:
            pending = self._rewinds[tp] = _Rewind({}, record.offset)
        pending.epochs[relay] = epoch
        pending.until = max(pending.until, record.offset)
        self.rewound += 1
        log.warning("consumer %s: %s[%d] was published again (relay %s, a newer epoch at offset %d): reading it "
                    "again from its start", self.consumer, record.topic, record.partition, relay,
                    record.offset)  # fmt: skip
        # seek(0), not seek_to_beginning(): that one waits in the handler for the broker's answer, up to the request
        # timeout, for every partition of a rebuilt topic in turn. A CI run (2026-12-03) had consumers still short
        # of their records a minute after a broker restart, and that wait is the suspect. seek() waits for nothing;
        # below the log's start, the fetch resets to the earliest offset.
        kafka.seek(TopicPartition(record.topic, record.partition), 0)
        return True


def fingerprint(key: bytes | None, value: bytes | None) -> int:
    """64 bits of a BLAKE2b of key and value (a signed bigint): tells one record from another at an offset."""
    digest = hashlib.blake2b(digest_size=8)
    key, value = key or b"", value or b""
    digest.update(len(key).to_bytes(4, "big"))
    digest.update(key)
    digest.update(value)
    return int.from_bytes(digest.digest(), "big", signed=True)


@dataclass(frozen=True, slots=True)
class Mark:
    """One acknowledged record: where it is and which record it is."""

    offset: int
    fingerprint: int


@dataclass(slots=True)
class Acked:
    last: Mark
    anchor: Mark


@dataclass(frozen=True, slots=True)
class Loss:
    """What the broker lost (topics, partitions and offsets only: this goes into logs and a table)."""

    reason: str


class Unsure(Exception):
    """The broker did not answer clearly (a partition silent, yet its end offset beyond the record): ask later."""


class AckLedger:
    """One relay's ``relay_acks`` rows, held in memory while it leads and written with its checkpoint."""

    def __init__(self, relay: str) -> None:
        self.relay = relay
        self.acks: dict[tuple[str, int], Acked] = {}
        # Partitions whose last look found no record at a mark and an end offset at or below it (see ``_check``):
        # a loss only if the next look finds the same.
        self._short: set[tuple[str, int, int]] = set()

    async def load(self, conn: Connection) -> None:
        rows = await conn.fetch(
            """SELECT topic, partition, last_offset, last_fingerprint, anchor_offset, anchor_fingerprint
                 FROM relay_acks WHERE relay = $1""",
            self.relay,
        )
        self.acks = {
            (r["topic"], r["partition"]): Acked(Mark(r["last_offset"], r["last_fingerprint"]),
                                                Mark(r["anchor_offset"], r["anchor_fingerprint"]))
            for r in rows
        }  # fmt: skip

    def regression(self, batch: Mapping[tuple[str, int], tuple[int, Mark]]) -> Loss | None:
        """A loss if a batch (per partition: its first offset and its last record) was acknowledged at or below an
        offset acknowledged before: offsets only grow while a partition keeps its log."""
        for (topic, partition), (first, _) in batch.items():
            known = self.acks.get((topic, partition))
            if known is not None and first <= known.last.offset:
                return Loss(f"{topic}[{partition}] acknowledged offset {first} again (it had reached "
                            f"{known.last.offset}): the partition's log started over")  # fmt: skip
        return None

    @staticmethod
    def columns(batch: Mapping[tuple[str, int], tuple[int, Mark]]) -> tuple[list[str], list[int], list[int], list[int]]:
        """The batch's last records as the four arrays ``MOVE_CHECKPOINT`` unnests (topics, partitions, offsets,
        fingerprints)."""
        keys = list(batch)
        return ([t for t, _ in keys], [p for _, p in keys], [batch[k][1].offset for k in keys],
                [batch[k][1].fingerprint for k in keys])  # fmt: skip

    def recorded(self, batch: Mapping[tuple[str, int], tuple[int, Mark]]) -> None:
        """The batch's rows are committed: hold them in memory too (never before: a failed commit keeps the old)."""
        for key, (_, mark) in batch.items():
            known = self.acks.get(key)
            if known is None:
                self.acks[key] = Acked(mark, mark)
            else:
                known.last = mark

    async def verify(self, bootstrap: str, settings: HarbourSettings) -> Loss | None:
        """Whether the broker still holds every partition's anchor and last record; raises Unsure if it cannot
        tell yet, and a Kafka or OS error if it cannot be reached."""
        if not self.acks:
            return None
        short: set[tuple[str, int, int]] = set()
        try:
            return await _look_for_loss(bootstrap, settings, self.acks, self._short, short)
        finally:
            self._short = short  # only two looks in a row count

    def unconfirmed(self, checked: Mapping[tuple[str, int], Mark]) -> dict[tuple[str, int], Mark]:
        """The records checked that are not yet the anchors of their partitions."""
        return {key: mark for key, mark in checked.items() if key in self.acks and self.acks[key].anchor != mark}

    async def confirm(self, conn: Connection, checked: Mapping[tuple[str, int], Mark]) -> None:
        """The records checked were in place: they become the anchors (the last ones may have moved on since)."""
        checked = self.unconfirmed(checked)
        if not checked:
            return
        keys = list(checked)
        await conn.execute(
            """UPDATE relay_acks a SET anchor_offset = u.o, anchor_fingerprint = u.f
                 FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[]) AS u(t, p, o, f)
                WHERE a.relay = $1 AND a.topic = u.t AND a.partition = u.p""",
            self.relay, [t for t, _ in keys], [p for _, p in keys], [checked[k].offset for k in keys],
            [checked[k].fingerprint for k in keys],
        )  # fmt: skip
        for key, mark in checked.items():
            if key in self.acks:
                self.acks[key].anchor = mark

    def snapshot(self) -> dict[tuple[str, int], Mark]:
        return {key: acked.last for key, acked in self.acks.items()}

    async def forget(self, conn: Connection) -> None:
        """After a loss: nothing the broker acknowledged before counts any more (in the rebuild's transaction)."""
        await conn.execute("DELETE FROM relay_acks WHERE relay = $1", self.relay)

    def forgotten(self) -> None:
        self.acks = {}
        self._short = set()


async def _look_for_loss(
    bootstrap: str,
    settings: HarbourSettings,
    acks: Mapping[tuple[str, int], Acked],
    short_before: set[tuple[str, int, int]],
    short_now: set[tuple[str, int, int]],
) -> Loss | None:
    # A consumer of its own for each look, without a group: nothing of it is cached from a broker that has since
    # restarted, and it commits nothing. A few milliseconds every few seconds, against a relay's seconds of work.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="none",
        fetch_max_wait_ms=100, max_partition_fetch_bytes=64 * 1024, request_timeout_ms=10000,
        **client_options(settings),
    )  # fmt: skip
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        for topic, partition in acks:
            partitions = cluster.partitions_for_topic(topic)
            if partitions is None:
                return Loss(f"topic {topic} is gone")
            if partition not in partitions:
                return Loss(f"partition {partition} of topic {topic} is gone")
        anchors = {TopicPartition(*key): acked.anchor for key, acked in acks.items()}
        lasts = {TopicPartition(*key): acked.last for key, acked in acks.items() if acked.last != acked.anchor}
        for marks in (anchors, lasts):
            if marks and (loss := await _check(consumer, marks, short_before, short_now)) is not None:
                return loss
        return None
    finally:
        await consumer.stop()


async def _check(
    consumer: AIOKafkaConsumer,
    marks: Mapping[TopicPartition, Mark],
    short_before: set[tuple[str, int, int]],
    short_now: set[tuple[str, int, int]],
) -> Loss | None:
    # A look that follows one which found a log short gives the fetch more time: on a busy machine a fetch can
    # take longer than LOOK_SECONDS, and only a second look that still finds nothing makes it a loss.
    doubt = any((tp.topic, tp.partition, mark.offset) in short_before for tp, mark in marks.items())
    found = await _first_records(consumer, marks, LOOK_SECONDS * (SECOND_LOOK_FACTOR if doubt else 1))
    silent = [tp for tp in marks if tp not in found]
    for tp, record in found.items():
        mark = marks[tp]
        if record is None or record.offset > mark.offset:
            # The record is gone but later ones are there: only retention (or compaction) removes records from
            # the head of a log; anywhere else it was lost.
            start = (await consumer.beginning_offsets([tp]))[tp]
            if start > mark.offset:
                continue
            return Loss(f"{tp.topic}[{tp.partition}] no longer has offset {mark.offset} (its log starts at {start})")
        if fingerprint(record.key, record.value) != mark.fingerprint:
            return Loss(f"{tp.topic}[{tp.partition}] holds another record at offset {mark.offset}")
    if silent:
        # No record at or after the offset. Tansu reports an end offset inside the last record batch (lower than
        # the real end), so an end beyond the offset proves the record is there and only the fetch was slow. An
        # end at or below it, with nothing fetched, says the log now ends before it, or only that the fetch was
        # slow and the mark is in the log's last batch: on a busy machine that was a second rebuild, the whole
        # store published again for nothing (CI, 2026-12-03). So it is a loss only when the next look, half a
        # second later, finds the same; a log that really ended still ends there then (a log the broker emptied
        # shows at once: a fetch past its end is refused, above).
        ends = await consumer.end_offsets(silent)
        for tp in silent:
            if ends[tp] <= marks[tp].offset:
                where = (tp.topic, tp.partition, marks[tp].offset)
                if where in short_before:
                    return Loss(f"{tp.topic}[{tp.partition}] ends at offset {ends[tp]}, before offset "
                                f"{marks[tp].offset} it had acknowledged (seen twice)")  # fmt: skip
                short_now.add(where)
        raise Unsure(f"{len(silent)} partitions did not answer in time")
    return None


async def _first_records(
    consumer: AIOKafkaConsumer, marks: Mapping[TopicPartition, Mark], patience: float
) -> dict[TopicPartition, ConsumerRecord | None]:
    """The first record at or after each mark's offset, for the partitions that answer within ``patience``
    seconds; None for a partition whose log now starts after the offset (the broker said so)."""
    tps = list(marks)
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, marks[tp].offset)
    found: dict[TopicPartition, ConsumerRecord | None] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    while len(found) < len(tps) and (left := deadline - loop.time()) > 0:
        pending = [tp for tp in tps if tp not in found]
        try:
            batch = await consumer.getmany(*pending, timeout_ms=max(1, int(left * 1000)))
        except OffsetOutOfRangeError as error:
            for tp in _partitions_of(error):
                found[tp] = None
                consumer.pause(tp)
            continue
        for tp, records in batch.items():
            if records and tp not in found:
                found[tp] = records[0]
                consumer.pause(tp)  # one record is all this look needs
    return found


def _partitions_of(error: OffsetOutOfRangeError) -> Iterable[TopicPartition]:
    offsets = error.args[0] if error.args else {}
    return list(offsets) if isinstance(offsets, Mapping) else []


class AssignmentWatch(ConsumerRebalanceListener):  # type: ignore[misc]
    """A consumer group's rebalance listener that brings back a group formed while some of its topics were gone.

    A broker that restarted empty no longer knows the group: the consumer rejoins at once (its next heartbeat),
    often before anyone has recreated the topics, and the group leader assigns no partition of a topic its
    metadata does not list. Two things then keep the group away from the re-published topic:
    - aiokafka sees the topic come back only at its next metadata refresh (``metadata_max_age_ms``, five
      minutes by default);
    - Tansu keeps every group at generation 0 and answers a rejoin under the same member id with the assignment
      it synced first (measured: the leader assigned all four partitions, the member got none), so even the
      rejoin aiokafka makes on seeing the topic leaves it without partitions, for good.
    So, while an assignment lacks a subscribed topic that the consumer's metadata does not list either, this
    looks for the topic every 0.5 s (doubling up to 30 s); once it is back, the consumer rejoins under a new
    member id with fresh metadata, and reads from the earliest offset (the broker lost the group's offsets).
    A member that rightly has no partition of a topic its metadata lists (more members than partitions) is
    left alone. Uses aiokafka's coordinator and client directly: no public call does either step.
    """

    def __init__(self, topics: Iterable[str], *, before_revoke: Callable[[], Awaitable[None]] | None = None) -> None:
        self.topics = frozenset(topics)
        self.before_revoke = before_revoke  # the group's bookmarks go out while its partitions are still its own
        self.subscriber: Any = None  # FastStream's subscriber: its ``consumer`` is the AIOKafkaConsumer, once started
        self._task: asyncio.Task[None] | None = None

    def attach(self, subscriber: Any) -> None:
        self.subscriber = subscriber

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if self.before_revoke is not None:
            await self.before_revoke()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        consumer = getattr(self.subscriber, "consumer", None)
        if consumer is None:
            return
        missing = {t for t in self.topics - {tp.topic for tp in assigned}
                   if not consumer._client.cluster.partitions_for_topic(t)}  # fmt: skip
        if missing:
            log.info("consumer group formed while %d of its topics were gone: rejoining once they are back",
                     len(missing))  # fmt: skip
            self._task = asyncio.create_task(self._rejoin_when_back(consumer, missing), name="harbour.assignment")

    async def _rejoin_when_back(self, consumer: AIOKafkaConsumer, missing: set[str]) -> None:
        wait = 0.5
        while not getattr(consumer, "_closed", False):
            await asyncio.sleep(wait)
            wait = min(wait * 2, 30.0)
            try:
                cluster = await consumer._client.fetch_all_metadata()  # a copy: the consumer's own is not touched
            except Exception:  # the broker is away: look again later
                continue
            if all(cluster.partitions_for_topic(t) for t in missing):
                # A new member id (see the class docstring), and the consumer's metadata refreshed before the
                # join completes (the leader assigns from it).
                consumer._coordinator.reset_generation()
                consumer._client.force_metadata_update()
                return
