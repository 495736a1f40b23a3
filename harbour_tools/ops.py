"""Operations on a running platform: replay a store, show, re-drive and park dead letters, rebuild a read model.

The logic only; ``harbour_tools/cli/ops.py`` is the command line around it. Every function takes what it works on
(a ``Target``: a service's definition, its store, the broker) so tests call it against their own services.
Progress is reported through a plain ``(done, total)`` callback, so nothing here depends on rich.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from harbour.db import create_pool
from harbour.kafka.consumer import REASON_PARKED, letter_headers, letter_producer, send_letter
from harbour.kafka.producer import make_producer
from harbour.kafka.relay import OutboxRelay
from harbour.kafka.security import client_options
from harbour.kafka.topics import TopicSpec, ensure_topics, topic_table
from harbour.projection import DeferredWrites, Projection
from harbour.service import ServiceDefinition
from harbour.settings import HarbourSettings
from harbour.store import EventStore, Position
from harbour.store.eventstore import _COLUMNS, _record

Progress = Callable[[int, int], None]  # (done, total)


def _no_progress(done: int, total: int) -> None:
    return None


@dataclass
class Target:
    """One service as the operations see it: its definition, its own store, the broker, the settings."""

    definition: ServiceDefinition
    store: EventStore
    bootstrap: str
    settings: HarbourSettings

    @property
    def pool(self) -> asyncpg.Pool:
        return self.store.pool


@contextlib.asynccontextmanager
async def open_target(
    definition: ServiceDefinition, database_url: str, bootstrap: str, settings: HarbourSettings
) -> AsyncIterator[Target]:
    """A Target on the service's own database (which must exist: raises asyncpg.InvalidCatalogNameError)."""
    pool = await create_pool(database_url, min_size=1, max_size=4)
    try:
        yield Target(definition, EventStore(pool, jurisdiction=settings.jurisdiction), bootstrap, settings)
    finally:
        await pool.close()


# --------------------------------------------------------------------------------------------- replay


def _published_topics(definition: ServiceDefinition) -> list[TopicSpec]:
    own = [t for t in topic_table(include_dlq=False) if t.name == definition.domain_topic]
    return own + list(definition.topics)


def _relays(target: Target) -> list[OutboxRelay]:
    """The relays whose routing a replay borrows (never started: their checkpoints are not touched)."""
    definition, settings = target.definition, target.settings
    domain = OutboxRelay(
        service=definition.name, store=target.store, dsn="", bootstrap=target.bootstrap, settings=settings,
        domain_topic=definition.domain_topic, topics=_published_topics(definition), routes=definition.routes,
        name=f"replay:{definition.name}",
    )  # fmt: skip
    # Audience milestones have a relay of their own (own checkpoint) when the service publishes any.
    if definition.milestone_route is None:
        return [domain]
    return [domain, definition.milestone_route.relay(store=target.store, dsn="", bootstrap=target.bootstrap,
                                                     settings=settings)]  # fmt: skip


async def replay(target: Target, from_position: int, *, progress: Progress = _no_progress, batch: int = 500) -> int:
    """Publish the service's stored events from ``from_position`` (a global position) again; returns how many.

    Each event goes where the relays send it (``OutboxRelay.messages_for`` of the domain relay and of the
    milestone relay: domain topic and routed milestone topics), with the same key and envelope headers, so
    consumers recognise it by event id and dedupe it in their inbox. No relay checkpoint is read or written: the
    relays here are never started, they only lend their routing. The replay stops at the store's head as it was
    when the replay began.
    """
    store = target.store
    relays = _relays(target)
    position, end = await store.position_of(from_position), await store.head()
    async with store.pool.acquire() as conn:
        total = int(await conn.fetchval(
            """SELECT count(*) FROM events WHERE (tx_id, global_position) > ($1, $2)
                                             AND (tx_id, global_position) <= ($3, $4)""",
            position.tx_id, position.global_position, end.tx_id, end.global_position,
        ))  # fmt: skip
    progress(0, total)
    if total == 0:
        return 0
    # Topics are created explicitly, never by the broker: a broker that restarted empty gets them back here.
    topics = [t for relay in relays for t in relay.topics]
    await ensure_topics(target.bootstrap, topics, replication_factor=target.settings.kafka_replication_factor)
    producer = make_producer(target.bootstrap, target.settings)
    await producer.start()
    done = 0
    try:
        while done < total:
            read = await store.read_all(position, limit=batch)
            events = [e for e in read if Position(e.tx_id, e.global_position) <= end]
            if not events:
                break
            async with store.pool.acquire() as conn:
                messages = [m for e in events for relay in relays for m in await relay.messages_for(conn, e)]
            futures = [await producer.send(m.topic, m.value, key=m.key, headers=m.headers) for m in messages]
            for future in futures:
                await future  # acknowledged before it counts as done
            done += len(events)
            position = Position(events[-1].tx_id, events[-1].global_position)
            progress(done, total)
    finally:
        await producer.stop()
    return done


# --------------------------------------------------------------------------------------------- dead letters


@dataclass(frozen=True)
class DeadLetter:
    """What a dead letter says about itself. Never its payload: it may hold personal data."""

    topic: str
    partition: int
    offset: int
    original_topic: str
    original_partition: int | None
    original_offset: int | None
    consumer: str
    error_type: str
    error_message: str
    event_type: str
    case_id: str
    # Why it is a letter (``dlq.reason``: poison, handler-failed, conflicts, parked); "-" on letters written
    # before the header existed. ``omitted`` names what a letter too large for its topic left out, if anything.
    reason: str = "-"
    omitted: str = ""

    @classmethod
    def of(cls, record: ConsumerRecord) -> DeadLetter:
        h = _headers(record)

        def number(name: str) -> int | None:
            return int(h[name]) if h.get(name, "").isdigit() else None

        return cls(
            record.topic, record.partition, record.offset,
            h.get("dlq.original_topic", record.topic.removesuffix(".dlq")),
            number("dlq.original_partition"), number("dlq.original_offset"), h.get("dlq.consumer", "-"),
            h.get("dlq.error_type", "-"), h.get("dlq.error_message", ""),
            h.get("event_type", "-"), h.get("case_id", "-"), h.get("dlq.reason", "-"),
            ", ".join(n for n in ("value", "headers") if f"dlq.{n}_omitted" in h),
        )  # fmt: skip


def _headers(record: ConsumerRecord) -> dict[str, str]:
    # Letters keep the original record's headers byte for byte: some may have no value or not be UTF-8.
    return {k: (v or b"").decode(errors="replace") for k, v in (record.headers or [])}


def dlq_topics() -> list[str]:
    """Every dead-letter topic of the topic table."""
    return [t.name for t in topic_table() if t.name.endswith(".dlq")]


async def read_topics(bootstrap: str, topics: Sequence[str], *, quiet_ms: int = 500) -> list[ConsumerRecord]:
    """Everything on ``topics`` from the beginning to their current end, without a consumer group.

    A topic the broker does not have (nothing was ever dead-lettered there since it started) reads as empty.
    The end is where the log goes quiet (no record within ``quiet_ms``), not the broker's end offsets: the
    development broker (Tansu) reports an end inside the last record batch, and trusting it listed only the
    first dead letter of a burst that had been sent together. Quiet is not reached before those end offsets,
    though: the first fetch of many topics holding letters of a megabyte can take longer than ``quiet_ms``,
    and stopping then listed none at all.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        # Up to four letters of a megabyte per partition and fetch: a burst of large letters is read in few round trips.
        fetch_max_bytes=16 << 20,
        max_partition_fetch_bytes=4 << 20,
        **client_options(),
    )
    await consumer.start()
    try:
        present = await consumer.topics()
        tps = [TopicPartition(t, p) for t in topics if t in present
               for p in sorted(consumer.partitions_for_topic(t) or ())]  # fmt: skip
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[ConsumerRecord] = []
        while True:
            batch = await consumer.getmany(*tps, timeout_ms=quiet_ms)
            for msgs in batch.values():
                records.extend(msgs)
            if not batch and all([await consumer.position(tp) >= ends[tp] for tp in tps]):
                return sorted(records, key=lambda r: (r.topic, r.partition, r.offset))
    finally:
        await consumer.stop()


async def list_dead_letters(bootstrap: str, topics: Sequence[str] | None = None) -> list[DeadLetter]:
    """The dead letters on ``topics`` (default: every ``*.dlq`` topic of the table), oldest first per partition."""
    return [DeadLetter.of(r) for r in await read_topics(bootstrap, list(topics) if topics else dlq_topics())]


def redrive_group(topic: str, consumer: str) -> str:
    return f"harbour.dlq-replay.{topic}.{consumer}"


@dataclass(frozen=True)
class Redrive:
    redriven: list[DeadLetter]
    already: int  # letters of the selected consumers that an earlier replay re-drove


async def replay_dead_letters(
    bootstrap: str, topic: str, settings: HarbourSettings, *, consumer: str | None = None,
    progress: Progress = _no_progress,
) -> Redrive:  # fmt: skip
    """Re-publish each dead letter of ``topic`` (of one ``consumer`` if given) to its original topic, once.

    The letter goes back with its key and its original headers minus the ``dlq.*`` ones; every consumer group of
    the original topic gets it again, and those that had applied it find it in their inbox.

    What was re-driven is recorded as committed offsets of a consumer group per (dead-letter topic, consumer that
    failed), ``harbour.dlq-replay.<topic>.<consumer>``: its offset on a partition means "every letter of this
    consumer below it was re-driven". One group per failing consumer, because ``--consumer X`` must neither mark
    other consumers' letters as done nor let a later full replay send X's letters a second time. Offsets live in
    the broker rather than in a table on purpose: the local broker is memory-only, and a table would outlive the
    letters and then skip the new letters a restarted broker writes at the same offsets; the group's offsets vanish
    together with the letters they describe. The offset is committed after each letter is acknowledged, so a crash
    re-drives at most that one letter again (harmless: consumers dedupe by event id).
    """
    records = [
        r for r in await read_topics(bootstrap, [topic]) if consumer is None or DeadLetter.of(r).consumer == consumer
    ]
    by_consumer: dict[str, list[ConsumerRecord]] = {}
    for record in records:
        by_consumer.setdefault(DeadLetter.of(record).consumer, []).append(record)
    todo: list[tuple[AIOKafkaConsumer, ConsumerRecord]] = []
    groups: list[AIOKafkaConsumer] = []
    producer = make_producer(bootstrap, settings)
    redriven: list[DeadLetter] = []
    try:
        for name, letters in by_consumer.items():
            group = AIOKafkaConsumer(
                bootstrap_servers=bootstrap,
                group_id=redrive_group(topic, name),
                enable_auto_commit=False,
                **client_options(),
            )
            await group.start()
            groups.append(group)
            tps = sorted({TopicPartition(r.topic, r.partition) for r in letters})
            group.assign(tps)  # manual assignment: the group only stores offsets, nobody joins it
            committed = {tp: await group.committed(tp) or 0 for tp in tps}
            todo += [(group, r) for r in letters if r.offset >= committed[TopicPartition(r.topic, r.partition)]]
        progress(0, len(todo))
        if todo:
            originals = {DeadLetter.of(r).original_topic for _, r in todo}
            await ensure_topics(bootstrap, [t for t in topic_table(include_dlq=False) if t.name in originals],
                                replication_factor=settings.kafka_replication_factor)  # fmt: skip
            await producer.start()
        for group, record in todo:
            letter = DeadLetter.of(record)
            headers = [(k, v) for k, v in (record.headers or []) if not k.startswith("dlq.")]
            await producer.send_and_wait(letter.original_topic, record.value, key=record.key, headers=headers)
            tp = TopicPartition(record.topic, record.partition)
            await group.commit({tp: OffsetAndMetadata(record.offset + 1, "")})
            redriven.append(letter)
            progress(len(redriven), len(todo))
    finally:
        await producer.stop()
        for group in groups:
            await group.stop()
    return Redrive(redriven, len(records) - len(todo))


# --------------------------------------------------------------------------------------------- parking


class ParkRefused(Exception):
    """Parking would skip more than the one record, or there is no such record: nothing was done."""


@dataclass(frozen=True)
class Parked:
    letter: DeadLetter
    group: str
    committed_before: int | None  # the group's offset on that partition before parking
    committed_after: int
    already: bool  # an earlier park had written the letter (this one only moved the offset)


async def park(
    bootstrap: str, topic: str, partition: int, offset: int, consumer: str, settings: HarbourSettings,
    *, note: str = "", group_wait_s: float = 30.0,
) -> Parked:  # fmt: skip
    """The operator's way past one record: copy it to ``<topic>.dlq`` as parked, then move ``consumer``'s group
    past it on its partition. For a record that stops a consumer some other way than a dead letter can (it
    crashes the process, say); the record stays on its topic, and ``harbour dlq replay`` re-drives it later.

    Only that one record is skipped: the group must be stopped exactly at it (its committed offset on the
    partition is ``offset``, or it has none and ``offset`` is the log's first). Anything else is refused, since
    moving the offset would skip other records too or let one be read twice. Stop the group's consumers first
    (the service, or its replicas): the park joins the group to move its offset (a broker takes offsets only
    from a member once a group has had members), and refuses if anyone else still holds part of the topic.

    The letter is acknowledged before the offset moves; a park that failed between the two can be run again
    (it finds its letter and only moves the offset).
    """
    if topic.endswith(".dlq"):
        raise ParkRefused(f"{topic} is a dead-letter topic: park a record of the topic a consumer reads")
    group = consumer + settings.consumer_group_suffix
    tp = TopicPartition(topic, partition)
    reader = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                              max_partition_fetch_bytes=8 << 20, **client_options(settings))  # fmt: skip
    await reader.start()
    try:
        partitions = reader.partitions_for_topic(topic) or set()
        if partition not in partitions:
            raise ParkRefused(f"{topic} has no partition {partition}")
        # A group whose consumers just stopped may still list them until their session times out: wait that long
        # for the whole topic to be ours, not longer (a group that still runs must be stopped first).
        deadline = asyncio.get_running_loop().time() + group_wait_s
        while {p.partition for p in reader.assignment() if p.topic == topic} != partitions:
            if asyncio.get_running_loop().time() >= deadline:
                raise ParkRefused(f"group {group} still has members reading {topic}: stop its consumers first")
            await asyncio.sleep(0.2)
        committed = await reader.committed(tp)
        first = (await reader.beginning_offsets([tp]))[tp]
        if (committed if committed is not None else first) != offset:
            at = "no committed offset (it would start at the log's first, " + str(first) + ")" if committed is None \
                else f"committed offset {committed}"  # fmt: skip
            raise ParkRefused(f"group {group} has {at} on {topic}[{partition}], not {offset}: parking {offset} would "
                              "skip other records or none; park the offset the group is stopped at")  # fmt: skip
        reader.seek(tp, offset)
        record = None
        while record is None:
            batch = await reader.getmany(tp, timeout_ms=5000, max_records=1)
            if not batch:
                raise ParkRefused(f"no record at {topic}[{partition}] offset {offset}")
            [found] = batch[tp]
            if found.offset == offset:
                record = found
            elif found.offset > offset:
                raise ParkRefused(
                    f"no record at {topic}[{partition}] offset {offset} (the log goes on at {found.offset})"
                )
        dlq = f"{topic}.dlq"
        earlier = [d for d in await list_dead_letters(bootstrap, [dlq])
                   if (d.original_topic, d.original_partition, d.original_offset, d.consumer, d.reason)
                   == (topic, partition, offset, consumer, REASON_PARKED)]  # fmt: skip
        if not earlier:
            await ensure_topics(bootstrap, [t for t in topic_table() if t.name == dlq],
                                replication_factor=settings.kafka_replication_factor)  # fmt: skip
            headers = letter_headers(record, consumer=consumer, reason=REASON_PARKED, error_type="ParkedByOperator",
                                     error_message=(note or "parked by an operator")[:500])  # fmt: skip
            producer = letter_producer(bootstrap, settings)
            await producer.start()
            try:
                await send_letter(producer, record, headers)
            finally:
                await producer.stop()
        try:
            await reader.commit({tp: OffsetAndMetadata(offset + 1, "parked by an operator")})
        except KafkaError as exc:
            raise ParkRefused(f"the letter is written but group {group} did not take the new offset "
                              f"({type(exc).__name__}): stop its consumers, park again") from exc  # fmt: skip
    finally:
        await reader.stop()
    [letter] = earlier or [d for d in await list_dead_letters(bootstrap, [dlq])
                           if (d.original_topic, d.original_partition, d.original_offset, d.consumer, d.reason)
                           == (topic, partition, offset, consumer, REASON_PARKED)][:1]  # fmt: skip
    return Parked(letter, group, committed, offset + 1, bool(earlier))


# --------------------------------------------------------------------------------------------- rebuild


def find_projection(definition: ServiceDefinition, name: str) -> Projection:
    """The service's projection called ``name`` (its name, its last dotted part, or its class name)."""
    for projection in definition.projections:
        if name in {projection.name, projection.name.rpartition(".")[2], type(projection).__name__}:
            return projection
    known = ", ".join(p.name for p in definition.projections) or "none"
    raise LookupError(f"service {definition.name} has no projection {name!r}; its projections: {known}")


def checkpoint_names(projection: Projection) -> list[str]:
    """Checkpoints a follower of this projection would keep (none do today: every projection is inline)."""
    return [f"projection:{projection.name}", projection.name]


async def rebuild(pool: asyncpg.Pool, projection: Projection, *, progress: Progress = _no_progress,
                  batch: int = 500) -> int:  # fmt: skip
    """Empty the projection's tables and apply every stored event from position 0 again; returns the count.

    One REPEATABLE READ transaction, read in batches: the tables are locked (ACCESS EXCLUSIVE) before the
    snapshot is taken, so an append that writes to them waits, and:
      - every event visible in the snapshot committed with its inline projection rows, and is replayed here;
      - an append still running has not written these tables (or we would have waited for it); it writes them
        after we commit, on top of the rebuilt rows, exactly once.
    Events are read from the table directly, not through ``EventStore.read_all``, whose in-flight horizon would
    leave out committed events that this snapshot sees (and whose rows the TRUNCATE removed). Readers meanwhile
    see the old rows, never a half-built model; a failing handler rolls everything back. A checkpoint kept
    under the projection's name is set to the last replayed event. The handlers write through
    ``DeferredWrites``: consecutive statements of the same text are sent as one pipelined batch.
    """
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        if projection.tables:
            await conn.execute(f"LOCK TABLE {', '.join(projection.tables)} IN ACCESS EXCLUSIVE MODE")
        total = int(await conn.fetchval("SELECT count(*) FROM events"))
        progress(0, total)
        await projection.reset(conn)
        # The handlers' writes go out in pipelined runs, not one round trip each (see DeferredWrites).
        writes = DeferredWrites(conn)
        # A projection that only dispatches on the type (handle() not overridden) is not handed the events it
        # has no handler for: they are skipped before they are decoded.
        dispatch_only = type(projection).handle is Projection.handle
        sql = f"""SELECT {_COLUMNS} FROM events WHERE (tx_id, global_position) > ($1, $2)
                   ORDER BY tx_id, global_position LIMIT $3"""
        after, done = Position(), 0
        try:
            rows = await conn.fetch(sql, after.tx_id, after.global_position, batch)
            while rows:
                for i, row in enumerate(rows, 1):
                    if not dispatch_only or projection.handler_for(row["event_type"]) is not None:
                        await projection.handle(writes, _record(row))  # type: ignore[arg-type]
                    if i % 50 == 0:
                        await asyncio.sleep(0)  # the previous page's statements go out, their replies come in
                done += len(rows)
                after = Position(rows[-1]["tx_id"], rows[-1]["global_position"])
                progress(done, total)
                # The next page is read before this page's writes go (the handlers write their own tables, never
                # events); the server then runs those writes while the next page is decoded.
                await writes.settle()
                rows = await conn.fetch(sql, after.tx_id, after.global_position, batch)
                await writes.send()
            await writes.flush()
        except BaseException:
            with contextlib.suppress(Exception):  # the connection is free again for the rollback
                await writes.settle()
            raise
        await conn.execute(
            "UPDATE checkpoints SET tx_id = $1, global_position = $2, updated_at = now() WHERE name = ANY($3)",
            after.tx_id, after.global_position, checkpoint_names(projection),
        )  # fmt: skip
    return done
