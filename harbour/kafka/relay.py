"""The outbox relay: follows the event store in commit order and publishes each event to Kafka.

The event store is the outbox. The relay runs as one leader per service (a PostgreSQL advisory lock held on
its own connection: a second instance waits), advances its checkpoint only after the broker acknowledged
every message of a batch (at-least-once; consumers dedupe through their inbox), and keeps retrying with
backoff while the broker is away, recreating topics that a restarted broker lost. When the broker has lost
what it acknowledged, the relay publishes its store again from the start (``harbour.kafka.rebuild``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from harbour import telemetry
from harbour.db import Connection
from harbour.kafka.producer import make_producer
from harbour.kafka.rebuild import AckLedger, Loss, Mark, Unsure, epoch_header, fingerprint
from harbour.kafka.sleep_slot import DOMAIN_SLOT, SleepSlot
from harbour.kafka.topics import TopicKeeper, TopicSpec
from harbour.settings import HarbourSettings
from harbour.store import EventStore, Position, RecordedEvent
from harbour.store.eventstore import WireRow, wire_header_names

log = logging.getLogger("harbour.relay")

ROUTE_RETRY_SECONDS = 0.05  # between tries of an event a route could not address yet
HELD_BACK_FIRST_WAIT = 0.01  # seconds; doubled while events stay held back, up to the polling interval
# While an append that will not notify is in flight, the relay cannot lie down: it looks again after this,
# doubled while it lasts, up to BUSY_MAX_WAIT (the worst delay such an append's events can see).
BUSY_FIRST_WAIT = 0.002
BUSY_MAX_WAIT = 0.05
UNSURE_RETRY_SECONDS = 0.5  # a look for a loss that the broker did not answer clearly is tried again after this

# The relay's epoch: its newest rebuild's detection, in microseconds since 1970 (0 before any).
_EPOCH_SQL = """SELECT coalesce(max((extract(epoch FROM detected_at) * 1000000)::bigint), 0)
                  FROM relay_rebuilds WHERE relay = $1"""

# Per (topic, partition) of a batch: its first acknowledged offset and its last record.
BatchAcks = dict[tuple[str, int], tuple[int, Mark]]


@dataclass(slots=True)
class _Rebuild:
    """A rebuild under way: the relay publishes its store again up to where it had got before the loss."""

    id: int
    target: Position  # the checkpoint at the loss
    events: int  # events up to it
    started: float  # time.monotonic()
    republished: int = 0


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class RouteNotReady(Exception):
    """A route cannot address an event yet (what it needs has not arrived): the relay publishes the events
    before it, then tries that event again, keeping its connection and producer (this is no failure)."""


# The routing hook: given a connection to the service's own database and a stored event, the messages to
# publish besides the domain-topic copy (audience milestones come this way, from the same store, so nothing
# is published that is not stored). Raising makes the relay retry the batch later (nothing is skipped).
Route = Callable[[Connection, RecordedEvent], Awaitable[Sequence[OutgoingMessage]]]

# A page the relay publishes: the events themselves (``read_all``) when routes need them, else the rows PostgreSQL
# rendered in the Kafka form (``read_wire``, the domain relay). Both name their order as tx_id, global_position.
Page = Sequence[RecordedEvent] | Sequence[WireRow]


class _Payloads(Protocol):
    """The key and value of each message of a batch, by the message's index (to fingerprint the last records)."""

    def __getitem__(self, index: int, /) -> tuple[bytes, bytes]: ...


def _runs_by_trace(
    routed: list[tuple[RecordedEvent, list[OutgoingMessage]]],
) -> list[list[tuple[RecordedEvent, list[OutgoingMessage]]]]:
    """Adjacent events stored under the same traceparent (one request's events), in store order."""
    runs: list[list[tuple[RecordedEvent, list[OutgoingMessage]]]] = []
    for item in routed:
        if not item[1]:
            continue
        if runs and runs[-1][0][0].traceparent == item[0].traceparent and item[0].traceparent:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


def _settled(page: Page) -> asyncio.Future[Page]:
    future: asyncio.Future[Page] = asyncio.get_running_loop().create_future()
    future.set_result(page)
    return future


async def _cancel(task: asyncio.Future[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


class _KeyValues:
    """Wire rows seen as (key, value) pairs, by index."""

    __slots__ = ("rows",)

    def __init__(self, rows: Sequence[WireRow]) -> None:
        self.rows = rows

    def __getitem__(self, index: int) -> tuple[bytes, bytes]:
        row = self.rows[index]
        return row.key, row.value


def domain_message(topic: str, event: RecordedEvent) -> OutgoingMessage:
    return OutgoingMessage(topic, event.case_id.encode(), event.value(), event.headers())


# The checkpoint and the batch's last acknowledged records, in one statement (one round trip, atomic as any
# statement is; it was a transaction of five). A checkpoint lost in a server crash only makes the relay publish a
# few batches again, which consumers dedupe by event id, so it need not wait for its own WAL flush (a flush per
# batch cost more than reading the batch): ``synchronous_commit`` is off for this statement's transaction alone.
MOVE_CHECKPOINT = """
WITH durability AS (SELECT set_config('synchronous_commit', 'off', true)),
     moved AS (
       INSERT INTO checkpoints (name, tx_id, global_position) SELECT $1, $2, $3 FROM durability
       ON CONFLICT (name) DO UPDATE SET tx_id = $2, global_position = $3, updated_at = now())
INSERT INTO relay_acks AS a (relay, topic, partition, last_offset, last_fingerprint, anchor_offset, anchor_fingerprint)
SELECT $1, t, p, o, f, o, f FROM unnest($4::text[], $5::int[], $6::bigint[], $7::bigint[]) AS u(t, p, o, f)
ON CONFLICT (relay, topic, partition) DO UPDATE
   SET last_offset = EXCLUDED.last_offset, last_fingerprint = EXCLUDED.last_fingerprint, updated_at = now()
"""


class OutboxRelay:
    def __init__(
        self,
        *,
        service: str,
        store: EventStore,
        dsn: str,
        bootstrap: str,
        settings: HarbourSettings,
        domain_topic: str | None,
        topics: Sequence[TopicSpec],
        routes: Sequence[Route] = (),
        name: str | None = None,
        sleep_slot: int = DOMAIN_SLOT,
    ) -> None:
        self.service = service
        self.sleep_slot = sleep_slot  # one per relay of a database (see harbour.kafka.sleep_slot)
        self.name = name or f"relay:{service}"
        self.store = store
        self.dsn = dsn
        self.bootstrap = bootstrap
        self.settings = settings
        self.domain_topic = domain_topic
        self.topics = list(topics)
        self.routes = list(routes)
        self.keeper = TopicKeeper(bootstrap, self.topics, replication_factor=settings.kafka_replication_factor)
        self.tracer = telemetry.get_tracer(service, settings)
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self.is_leader = False
        self.published = 0
        self._position: Position | None = None  # the stored checkpoint, while this relay leads
        self._lag_reported = 0.0
        self._held_back = False  # the last page was empty while committed events wait behind an older transaction
        self._held_back_wait = HELD_BACK_FIRST_WAIT
        self._busy_wait = BUSY_FIRST_WAIT
        self._prefetch: tuple[Position, asyncio.Future[Page]] | None = None
        self.ledger = AckLedger(self.name)  # what the broker acknowledged, per topic-partition (relay_acks)
        self._next_check = 0.0  # time.monotonic() of the next look for a loss (0: before the next batch)
        self._rebuild: _Rebuild | None = None
        # When this relay last published its store again (harbour.kafka.rebuild, RelayEpochs): on every record, so
        # a consumer left at an offset past a log published again can tell. Read from the store with the checkpoint.
        self.epoch = 0
        self._epoch_headers = [epoch_header(self.name, 0)]

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._prefetch is not None:
            prefetch, self._prefetch = self._prefetch, None
            await _cancel(prefetch[1])
        await self._close_producer()
        await self.keeper.close()

    def wake(self) -> None:
        self._wake.set()

    @property
    def started(self) -> bool:
        return self._task is not None

    async def report(self, conn: Connection) -> None:
        """What every replica says of this relay at a scrape, leader or not: whether it leads here
        (``harbour_relay_leader``, 1 or 0), and the lag read from the store (the head minus the stored checkpoint),
        so that a relay that no replica leads still shows its events waiting (the leader alone used to report)."""
        telemetry.RELAY_LEADER.labels(self.service).set(1 if self.is_leader else 0)
        row = await conn.fetchrow(
            """SELECT (SELECT global_position FROM events
                        WHERE tx_id < (SELECT harbour_read_bound())
                        ORDER BY tx_id DESC, global_position DESC LIMIT 1) AS head,
                      (SELECT global_position FROM checkpoints WHERE name = $1) AS done""",
            self.name,
        )  # fmt: skip
        assert row is not None  # a SELECT of two scalar subqueries always has its one row
        telemetry.RELAY_LAG.labels(self.service).set(max(0, (row["head"] or 0) - (row["done"] or 0)))

    async def _run(self) -> None:
        backoff = 0.2
        while not self._stopping:
            published = self.published
            try:
                await self._lead()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("relay %s paused: %s", self.name, type(error).__name__)
                await self._close_producer()
                await self._report_stalled_lag()
                if self.published != published:
                    backoff = 0.2  # it published since the last failure: this is a new outage, not the same
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _lead(self) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(self.dsn)
        try:
            # One relay per service publishes: the lock lives as long as this connection, so a crashed
            # leader's lock is released by PostgreSQL and a waiting instance takes over.
            while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", self.name):
                self.is_leader = False
                await asyncio.sleep(1.0)
            self.is_leader = True
            self._position = None  # another instance may have led meanwhile: read the stored checkpoint
            slot = SleepSlot(conn, self.sleep_slot)
            await conn.add_listener("harbour_events", lambda *_: self._wake.set())
            # Before the first rest: appends must look at this slot before it can be lain down on.
            await slot.register(self.name)
            await self._ensure_topics()
            while not self._stopping:
                # Cleared before reading, so that a notification arriving while a batch is read or sent
                # wakes the next round at once instead of being lost to it.
                self._wake.clear()
                try:
                    if await self.relay_once():
                        self._held_back_wait, self._busy_wait = HELD_BACK_FIRST_WAIT, BUSY_FIRST_WAIT
                        continue
                    await self._rest(slot)
                except RouteNotReady:
                    await asyncio.sleep(ROUTE_RETRY_SECONDS)
        finally:
            self.is_leader = False
            with contextlib.suppress(Exception):
                await conn.close()

    async def _rest(self, slot: SleepSlot) -> None:
        """Nothing to publish: wait for the next event, asleep only when every append will notify."""
        wait = self.settings.relay_poll_seconds
        if self._held_back:
            # Committed events wait for an older transaction elsewhere on the server, which may end without
            # notifying: look again soon, backing off while it lasts.
            wait, self._held_back_wait = min(self._held_back_wait, wait), self._held_back_wait * 2
        elif not await slot.lie_down():
            # An append that saw this relay awake (and so will not notify) has not committed yet.
            wait, self._busy_wait = min(self._busy_wait, wait), min(self._busy_wait * 2, BUSY_MAX_WAIT)
        else:
            self._busy_wait = BUSY_FIRST_WAIT
            try:
                # Appends that committed before the slot was taken notified nobody: read once more.
                if await self.relay_once() or self._held_back:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
            finally:
                await slot.get_up()  # awake again: appends may stop notifying
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), wait)

    async def _ensure_topics(self) -> None:
        await self.keeper.ensure()

    async def _producer_ready(self) -> AIOKafkaProducer:
        if self._producer is None:
            # A new producer may face a broker that restarted empty: create the topics first, so that the
            # broker does not auto-create them with its own partition count.
            await self._ensure_topics()
            producer = make_producer(self.bootstrap, self.settings)
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _close_producer(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            with contextlib.suppress(Exception):
                await producer.stop()

    # -- one batch ------------------------------------------------------------------------------------------
    async def checkpoint(self) -> Position:
        async with self.store.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT tx_id, global_position FROM checkpoints WHERE name = $1", self.name)
        return Position(row["tx_id"], row["global_position"]) if row else Position()

    async def set_checkpoint(self, position: Position, acked: BatchAcks | None = None) -> None:
        """Move the checkpoint, and record where the broker put the batch's last records (``acked``), together."""
        async with self.store.pool.acquire() as conn:
            await conn.execute(MOVE_CHECKPOINT, self.name, position.tx_id, position.global_position,
                               *AckLedger.columns(acked or {}))  # fmt: skip
        if acked:
            self.ledger.recorded(acked)

    async def _reload(self) -> Position:
        """The stored checkpoint, what the broker acknowledged, and a rebuild left unfinished (a restart)."""
        async with self.store.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT tx_id, global_position FROM checkpoints WHERE name = $1", self.name)
            await self.ledger.load(conn)
            self._set_epoch(await conn.fetchval(_EPOCH_SQL, self.name))
            open_rebuild = await conn.fetchrow(
                """SELECT id, checkpoint_tx_id, checkpoint_global_position, events,
                          extract(epoch FROM now() - detected_at)::float8 AS age
                     FROM relay_rebuilds WHERE relay = $1 AND completed_at IS NULL ORDER BY id DESC LIMIT 1""",
                self.name,
            )  # fmt: skip
        if open_rebuild is not None and (self._rebuild is None or self._rebuild.id != open_rebuild["id"]):
            target = Position(open_rebuild["checkpoint_tx_id"], open_rebuild["checkpoint_global_position"])
            self._rebuild = _Rebuild(open_rebuild["id"], target, open_rebuild["events"],
                                     time.monotonic() - open_rebuild["age"])  # fmt: skip
        elif open_rebuild is None:
            self._rebuild = None
        return Position(row["tx_id"], row["global_position"]) if row else Position()

    # -- the broker's memory -------------------------------------------------------------------------------
    async def _look_for_loss(self) -> bool:
        """Whether the broker still has what this relay had it acknowledge; on a loss, go back to the start of
        the store (True). Raises while the broker cannot be reached: the batch waits, as for a failed send."""
        checked = self.ledger.snapshot()
        try:
            loss = await self.ledger.verify(self.bootstrap, self.settings)
        except Unsure:
            self._next_check = time.monotonic() + UNSURE_RETRY_SECONDS
            return False
        if loss is None:
            if self.ledger.unconfirmed(checked):
                async with self.store.pool.acquire() as conn:
                    await self.ledger.confirm(conn, checked)
            self._next_check = time.monotonic() + self.settings.relay_loss_check_seconds
            return False
        await self._start_over(loss)
        return True

    async def _start_over(self, loss: Loss) -> None:
        """Put the checkpoint back to the start of the store: every event is published again, in store order."""
        if self._prefetch is not None:
            prefetch, self._prefetch = self._prefetch, None
            await _cancel(prefetch[1])
        start = Position()
        async with self.store.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow("SELECT tx_id, global_position FROM checkpoints WHERE name = $1", self.name)
            reached = Position(row["tx_id"], row["global_position"]) if row else Position()
            if self._rebuild is not None:  # lost again while rebuilding: the first rebuild's target still holds
                reached = max(reached, self._rebuild.target)
                await conn.execute("UPDATE relay_rebuilds SET completed_at = now() WHERE id = $1", self._rebuild.id)
            events = await conn.fetchval(
                """SELECT count(*) FROM events
                    WHERE (tx_id, global_position) > ($1, $2) AND (tx_id, global_position) <= ($3, $4)""",
                start.tx_id, start.global_position, reached.tx_id, reached.global_position,
            )  # fmt: skip
            await conn.execute(
                """INSERT INTO checkpoints (name, tx_id, global_position) VALUES ($1, $2, $3)
                   ON CONFLICT (name) DO UPDATE SET tx_id = $2, global_position = $3, updated_at = now()""",
                self.name, start.tx_id, start.global_position,
            )  # fmt: skip
            await self.ledger.forget(conn)
            # detected_at is the new epoch: later than any earlier one of this relay even within a microsecond.
            rebuild_id = await conn.fetchval(
                """INSERT INTO relay_rebuilds (relay, reason, from_tx_id, from_global_position, checkpoint_tx_id,
                                               checkpoint_global_position, events, detected_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7,
                           greatest(now(), (SELECT max(detected_at) + interval '1 microsecond' FROM relay_rebuilds
                                             WHERE relay = $1)))
                   RETURNING id""",
                self.name, loss.reason, start.tx_id, start.global_position, reached.tx_id, reached.global_position,
                events,
            )  # fmt: skip
            epoch = await conn.fetchval(_EPOCH_SQL, self.name)
        self._set_epoch(epoch)
        self.ledger.forgotten()
        self._position = start
        self._rebuild = _Rebuild(rebuild_id, reached, events, time.monotonic())
        self._next_check = time.monotonic() + self.settings.relay_loss_check_seconds
        await self._close_producer()  # its metadata describes the broker as it was
        telemetry.RELAY_REBUILDS.labels(self.service, self.name).inc()
        telemetry.RELAY_REBUILD_BEHIND.labels(self.service, self.name).set(events)
        log.warning("relay %s: the broker lost what it had acknowledged (%s); publishing the store again from "
                    "position %d (its start): %d events up to global position %d, where the relay had got",
                    self.name, loss.reason, start.global_position, events, reached.global_position)  # fmt: skip

    def _set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self._epoch_headers = [epoch_header(self.name, epoch)]

    async def _rebuilt_up_to(self, batch: Page) -> None:
        rebuild = self._rebuild
        assert rebuild is not None
        target = rebuild.target
        positions = ((item.tx_id, item.global_position) for item in batch)
        covered = sum(1 for tx_id, gp in positions if (tx_id, gp) <= (target.tx_id, target.global_position))
        rebuild.republished += covered
        telemetry.RELAY_REPUBLISHED.labels(self.service, self.name).inc(covered)
        last = batch[-1]
        done = Position(last.tx_id, last.global_position)
        if done < target:
            return
        async with self.store.pool.acquire() as conn:
            await conn.execute("UPDATE relay_rebuilds SET completed_at = now() WHERE id = $1", rebuild.id)
        self._rebuild = None
        log.warning("relay %s: rebuilt: %d events published again in %.1f s", self.name, rebuild.republished,
                    time.monotonic() - rebuild.started)  # fmt: skip

    async def messages_for(self, conn: Connection, event: RecordedEvent) -> list[OutgoingMessage]:
        messages = [domain_message(self.domain_topic, event)] if self.domain_topic else []
        for route in self.routes:
            messages.extend(await route(conn, event))
        return messages

    async def relay_once(self) -> int:
        """Publish the next batch after the checkpoint; returns how many events it covered."""
        # Only this relay moves its checkpoint, so it is read once per leadership (and after any failure).
        if self._position is None:
            position = await self._reload()
            # A new leader (a service restart too) or a failed batch: first make sure the broker still has what
            # was acknowledged, before anything new hides a loss.
            self._next_check = 0.0
        else:
            position = self._position
        self._position = None  # unknown until this batch is settled
        if time.monotonic() >= self._next_check and await self._look_for_loss():
            position, self._position = Position(), None  # from the start of the store
        wire = not self.routes and self.domain_topic is not None
        batch = await self._page_at(position)
        if not batch:
            self._position = position
            self._held_back = await self.store.any_after(position)
            if not self._held_back:
                telemetry.RELAY_LAG.labels(self.service).set(0)
            return 0
        full = len(batch) == self.settings.relay_batch_size
        routed: list[tuple[RecordedEvent, list[OutgoingMessage]]] = []
        if not wire:
            try:
                routed = await self._route(cast("Sequence[RecordedEvent]", batch))  # read_all's events
            except RouteNotReady:
                # Its first event is the one not ready: the same page serves the next try (reading and decoding
                # a whole page every 50 ms while a case's facts are late would keep a core busy).
                self._position = position
                self._prefetch = (position, _settled(batch))
                raise
            full = full and len(routed) == len(batch)
            batch = [event for event, _ in routed]
        last = batch[-1]
        done = Position(last.tx_id, last.global_position)
        if full:
            # A backlog: PostgreSQL reads the next page while this one is sent (it is used only if this batch
            # settles; any failure drops it and the relay starts again from its stored checkpoint).
            self._prefetch = (done, asyncio.create_task(self._read_page(done)))
        producer = await self._producer_ready()
        if await self.keeper.ensure():
            # The broker came back empty: drop the producer's cached view of it before publishing, and look for
            # what it lost before the next batch (this one, on the new log, may not show it).
            await self._close_producer()
            producer = await self._producer_ready()
            self._next_check = 0.0
        try:
            futures, payloads = await (
                self._publish_wire(producer, cast("Sequence[WireRow]", batch))
                if wire
                else self._publish_routed(producer, routed)
            )
            sent: dict[str, int] = {}
            # Per partition: the first offset, the last offset and the index of the message acknowledged there.
            seen: dict[tuple[str, int], list[int]] = {}
            for index, (topic, future) in enumerate(futures):
                metadata = await future
                sent[topic] = sent.get(topic, 0) + 1
                where = seen.get((topic, metadata.partition))
                if where is None:
                    seen[(topic, metadata.partition)] = [metadata.offset, metadata.offset, index]
                elif metadata.offset > where[1]:
                    where[1], where[2] = metadata.offset, index
                elif metadata.offset < where[0]:
                    where[0] = metadata.offset
            if await self.keeper.missing():
                # Acknowledged by a broker that has since lost the topics: publish the batch again.
                raise KafkaError("topics vanished while publishing (the broker restarted)")
        except KafkaError as error:
            # Nothing of this batch counts as published; a lost topic is recreated before the retry.
            trace.get_current_span().record_exception(error)
            await self._close_producer()
            await self._ensure_topics_quietly()
            raise
        for topic, count in sent.items():
            telemetry.RELAYED.labels(self.service, topic).inc(count)
        acked: BatchAcks = {key: (first, Mark(last, fingerprint(*payloads[index])))
                            for key, (first, last, index) in seen.items()}  # fmt: skip
        self.published += len(batch)
        if (loss := self.ledger.regression(acked)) is not None:
            # Acknowledged on a log that started over: whatever the old one held is gone.
            await self._start_over(loss)
            return len(batch)
        await self.set_checkpoint(done, acked)
        self._position = done
        if self._rebuild is not None:
            await self._rebuilt_up_to(batch)
        await self._report_lag(done)
        return len(batch)

    def _read_page(self, position: Position) -> Coroutine[Any, Any, Page]:
        limit = self.settings.relay_batch_size
        if self.routes or self.domain_topic is None:  # routes need the events themselves
            return self.store.read_all(position, limit=limit)
        # The domain relay has PostgreSQL render its messages: no event is decoded here.
        return self.store.read_wire(position, limit=limit)

    async def _page_at(self, position: Position) -> Page:
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is not None:
            at, task = prefetch
            if at != position:
                await _cancel(task)
            elif page := await task:
                return page
            # else: read before the events now waiting were committed; an empty page would put the relay to
            # sleep with their notification already spent
        return await self._read_page(position)

    async def _report_lag(self, done: Position) -> None:
        # The head costs a query: while a backlog drains it is asked at most once a second.
        now = time.monotonic()
        if now - self._lag_reported < 1.0:
            return
        self._lag_reported = now
        head = await self.store.head()
        telemetry.RELAY_LAG.labels(self.service).set(max(0, head.global_position - done.global_position))

    async def _report_stalled_lag(self) -> None:
        # While the broker is away the backlog grows, and that is when operators look at the lag.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                done, head = await self.checkpoint(), await self.store.head()
                telemetry.RELAY_LAG.labels(self.service).set(max(0, head.global_position - done.global_position))

    async def _route(self, batch: Sequence[RecordedEvent]) -> list[tuple[RecordedEvent, list[OutgoingMessage]]]:
        """Each event with its messages, up to the first one a route cannot address yet (the batch ends there:
        publishing past it would break the per-case order)."""
        routed: list[tuple[RecordedEvent, list[OutgoingMessage]]] = []
        async with self.store.pool.acquire() as conn:
            for event in batch:
                try:
                    routed.append((event, await self.messages_for(conn, event)))
                except RouteNotReady:
                    if not routed:
                        raise
                    break
        return routed

    async def _publish_routed(
        self, producer: AIOKafkaProducer, routed: list[tuple[RecordedEvent, list[OutgoingMessage]]]
    ) -> tuple[list[tuple[str, asyncio.Future[Any]]], list[tuple[bytes, bytes]]]:
        """The send futures, and beside them each message's key and value (to fingerprint the last records)."""
        futures: list[tuple[str, asyncio.Future[Any]]] = []
        payloads: list[tuple[bytes, bytes]] = []
        for run in _runs_by_trace(routed):
            first = run[0][0]
            topics = sorted({m.topic for _, messages in run for m in messages})
            count, types = sum(len(m) for _, m in run), {e.event_type for e, _ in run}
            with self._publish_span(first.traceparent, topics, count, types, first.global_position) as trace_headers:
                for _, messages in run:
                    for message in messages:
                        headers = [(k, v) for k, v in message.headers if k != "traceparent"] + trace_headers
                        future = await producer.send(message.topic, message.value, key=message.key, headers=headers)
                        futures.append((message.topic, future))
                        payloads.append((message.key, message.value))
        return futures, payloads

    async def _publish_wire(
        self, producer: AIOKafkaProducer, rows: Sequence[WireRow]
    ) -> tuple[list[tuple[str, asyncio.Future[Any]]], _Payloads]:
        """Send pre-rendered rows (tx_id, global_position, traceparent, event_type, key, value, headers, absent);
        returns the futures and, as the messages' keys and values, the rows themselves (a view, not a copy)."""
        topic = str(self.domain_topic)
        names = wire_header_names
        send = producer.send
        futures: list[tuple[str, asyncio.Future[Any]]] = []
        start, count = 0, len(rows)
        while start < count:
            traceparent = rows[start].traceparent
            end = start + 1
            while traceparent and end < count and rows[end].traceparent == traceparent:
                end += 1
            run = rows[start:end]
            with self._publish_span(
                traceparent, [topic], len(run), {r.event_type for r in run}, rows[start].global_position
            ) as extra:
                for row in run:
                    headers = [*zip(names(row.absent), row.headers, strict=True), *extra]
                    futures.append((topic, await send(topic, row.value, key=row.key, headers=headers)))
            start = end
        return futures, _KeyValues(rows)

    @contextlib.contextmanager
    def _publish_span(
        self, traceparent: str | None, topics: list[str], count: int, event_types: set[str], first_position: int
    ) -> Iterator[list[tuple[str, bytes]]]:
        """One publish span per request's run of events, continuing that request's trace; yields the headers each of
        its records gets besides its own: the span's trace context and the relay's epoch.

        The events one command stored share its traceparent and are adjacent in the store's order, so they
        are published under one span (a span per message cost more than the publishing itself). The span is
        started and ended directly rather than made current: nothing in the send looks at the current span,
        and the headers carry its context explicitly, so consumers continue it.
        """
        parent = telemetry.context_from_traceparent(traceparent)
        span = self.tracer.start_span(
            f"{topics[0] if len(topics) == 1 else self.service} publish", context=parent, kind=SpanKind.PRODUCER,
            attributes={"messaging.system": "kafka", "messaging.destination.name": topics,
                        "messaging.batch.message_count": count, "harbour.event_types": sorted(event_types),
                        "harbour.global_position": first_position},
        )  # fmt: skip
        try:
            carrier: dict[str, str] = {}
            propagate.inject(carrier, context=trace.set_span_in_context(span, parent))
            yield [*((k, v.encode()) for k, v in carrier.items()), *self._epoch_headers]
        except BaseException as error:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            raise
        finally:
            span.end()

    async def _ensure_topics_quietly(self) -> None:
        with contextlib.suppress(Exception):
            await self._ensure_topics()

    async def drain(self, timeout: float = 30.0) -> None:
        """Publish until every event committed before this call is published (tests, replay).

        "Nothing readable" is not "done": read_all holds back rows until every older transaction that may write
        this store has ended (``harbour_read_bound``, migration 0014: one whose database it cannot tell holds
        them back too). Returning on the first empty batch let callers go on while committed events were
        unpublished.
        """
        async with self.store.pool.acquire() as conn:
            target = await conn.fetchval("SELECT max(global_position) FROM events")
        async with asyncio.timeout(timeout):
            while True:
                try:
                    if await self.relay_once():
                        continue
                except RouteNotReady:  # as the running relay does: try that event again in a moment
                    await asyncio.sleep(ROUTE_RETRY_SECONDS)
                    continue
                if target is None:
                    return
                done = await self.checkpoint()
                async with self.store.pool.acquire() as conn:
                    behind = await conn.fetchval(
                        """SELECT EXISTS (SELECT 1 FROM events WHERE global_position <= $1
                                          AND (tx_id, global_position) > ($2, $3))""",
                        target, done.tx_id, done.global_position,
                    )  # fmt: skip
                if not behind:
                    return
                await asyncio.sleep(0.02)
