"""The outbox relay: follows the event store in commit order and publishes each event to Kafka.

The event store is the outbox. The relay runs as one leader per service (a PostgreSQL advisory lock held on
its own connection: a second instance waits), advances its checkpoint only after the broker acknowledged
every message of a batch (at-least-once; consumers dedupe through their inbox), and keeps retrying with
backoff while the broker is away, recreating topics that a restarted broker lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from harbour import telemetry
from harbour.kafka.producer import make_producer
from harbour.kafka.topics import TopicKeeper, TopicSpec
from harbour.settings import HarbourSettings
from harbour.store import EventStore, Position, RecordedEvent

log = logging.getLogger("harbour.relay")


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)


# The routing hook: given a connection to the service's own database and a stored event, the messages to
# publish besides the domain-topic copy (audience milestones come this way, from the same store, so nothing
# is published that is not stored). Raising makes the relay retry the batch later (nothing is skipped).
Route = Callable[[Any, RecordedEvent], Awaitable[Sequence[OutgoingMessage]]]


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


def domain_message(topic: str, event: RecordedEvent) -> OutgoingMessage:
    return OutgoingMessage(topic, event.case_id.encode(), event.value(), event.headers())


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
    ) -> None:
        self.service = service
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
        await self._close_producer()
        await self.keeper.close()

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        backoff = 0.2
        while not self._stopping:
            try:
                await self._lead()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("relay %s paused: %s", self.name, type(error).__name__)
                await self._close_producer()
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
            await conn.add_listener("harbour_events", lambda *_: self._wake.set())
            await self._ensure_topics()
            while not self._stopping:
                published = await self.relay_once()
                if published == 0:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.settings.relay_poll_seconds)
        finally:
            self.is_leader = False
            with contextlib.suppress(Exception):
                await conn.close()

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

    async def set_checkpoint(self, position: Position) -> None:
        async with self.store.pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO checkpoints (name, tx_id, global_position) VALUES ($1, $2, $3)
                   ON CONFLICT (name) DO UPDATE SET tx_id = $2, global_position = $3, updated_at = now()""",
                self.name, position.tx_id, position.global_position,
            )  # fmt: skip

    async def messages_for(self, conn: Any, event: RecordedEvent) -> list[OutgoingMessage]:
        messages = [domain_message(self.domain_topic, event)] if self.domain_topic else []
        for route in self.routes:
            messages.extend(await route(conn, event))
        return messages

    async def relay_once(self) -> int:
        """Publish the next batch after the checkpoint; returns how many events it covered."""
        position = await self.checkpoint()
        batch = await self.store.read_all(position, limit=self.settings.relay_batch_size)
        if not batch:
            telemetry.RELAY_LAG.labels(self.service).set(0)
            return 0
        producer = await self._producer_ready()
        if await self.keeper.ensure():
            # The broker came back empty: drop the producer's cached view of it before publishing.
            await self._close_producer()
            producer = await self._producer_ready()
        futures = []
        if self.routes:
            async with self.store.pool.acquire() as conn:
                routed = [(event, await self.messages_for(conn, event)) for event in batch]
        else:  # the domain relay: no database work per event, so no connection and no coroutine per event
            topic = self.domain_topic
            routed = [(event, [domain_message(topic, event)] if topic else []) for event in batch]
        try:
            # One publish span per request: the events one command stored share its traceparent and are
            # adjacent in the store's order, so each run of them is published under one span that continues
            # that request's trace (a span per message cost more than the publishing itself).
            for run in _runs_by_trace(routed):
                futures.extend(await self._publish_run(producer, run))
            sent: dict[str, int] = {}
            for topic, future in futures:
                await future
                sent[topic] = sent.get(topic, 0) + 1
            for topic, count in sent.items():
                telemetry.RELAYED.labels(self.service, topic).inc(count)
            if await self.keeper.missing():
                # Acknowledged by a broker that has since lost the topics: publish the batch again.
                raise KafkaError("topics vanished while publishing (the broker restarted)")
        except KafkaError as error:
            # Nothing of this batch counts as published; a lost topic is recreated before the retry.
            trace.get_current_span().record_exception(error)
            await self._close_producer()
            await self._ensure_topics_quietly()
            raise
        last = batch[-1]
        await self.set_checkpoint(Position(last.tx_id, last.global_position))
        self.published += len(batch)
        head = await self.store.head()
        telemetry.RELAY_LAG.labels(self.service).set(max(0, head.global_position - last.global_position))
        return len(batch)

    async def _publish_run(
        self, producer: AIOKafkaProducer, run: list[tuple[RecordedEvent, list[OutgoingMessage]]]
    ) -> list[tuple[str, asyncio.Future[Any]]]:
        """Hand one request's messages to the producer inside one publish span; returns the acks' futures.

        The span is started and ended directly rather than made the current span: nothing in the send looks
        at the current span, and the headers get the span's context explicitly, so consumers continue it.
        """
        first = run[0][0]
        topics = sorted({m.topic for _, messages in run for m in messages})
        parent = telemetry.context_from_traceparent(first.traceparent)
        span = self.tracer.start_span(
            f"{topics[0] if len(topics) == 1 else self.service} publish", context=parent, kind=SpanKind.PRODUCER,
            attributes={"messaging.system": "kafka", "messaging.destination.name": topics,
                        "messaging.batch.message_count": sum(len(m) for _, m in run),
                        "harbour.event_types": sorted({e.event_type for e, _ in run}),
                        "harbour.global_position": first.global_position},
        )  # fmt: skip
        futures: list[tuple[str, asyncio.Future[Any]]] = []
        try:
            carrier: dict[str, str] = {}
            propagate.inject(carrier, context=trace.set_span_in_context(span, parent))
            trace_headers = [(k, v.encode()) for k, v in carrier.items()]
            for _, messages in run:
                for message in messages:
                    headers = [(k, v) for k, v in message.headers if k not in carrier] + trace_headers
                    future = await producer.send(message.topic, message.value, key=message.key, headers=headers)
                    futures.append((message.topic, future))
            return futures
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

        "Nothing readable" is not "done": read_all holds back rows until every older transaction on the
        server has ended (pg_snapshot_xmin is cluster-wide, so any open transaction in any database delays
        them). Returning on the first empty batch let callers go on while committed events were unpublished.
        """
        async with self.store.pool.acquire() as conn:
            target = await conn.fetchval("SELECT max(global_position) FROM events")
        async with asyncio.timeout(timeout):
            while True:
                if await self.relay_once():
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
