"""Consumers: FastStream subscribers whose effects are applied exactly once through an inbox.

Offsets are committed only after the handler's transaction committed (AckPolicy.NACK_ON_ERROR, never
FastStream's default ack-first). The inbox row (consumer, event id) is written in that same transaction,
so a redelivered message has no second effect. A message that is malformed, or whose handler keeps
failing, goes to ``<topic>.dlq`` with the reason in its headers, and the partition keeps flowing. An outage
of PostgreSQL is not the message's fault: the message is not acknowledged and comes back later.

Most subscriptions read domain events (``RecordedEvent`` envelopes). A ``raw`` subscription reads messages
that are not events, such as audience milestones: the handler gets the Kafka record as a ``RawMessage``
and the subscription's ``message_id`` names it for the inbox; the same retries and dead letters apply.
Subscriptions that share a consumer name are read by one Kafka consumer (one group join for many topics).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from pydantic import ValidationError

from harbour import telemetry
from harbour.errors import ConcurrencyError
from harbour.store import Actor, CommandContext, RecordedEvent
from harbour.store.eventstore import StreamOrderRetry

if TYPE_CHECKING:
    from harbour.service import ServiceRuntime

log = logging.getLogger("harbour.consumer")

# Errors that say "the infrastructure is away", not "this message is bad": never dead-lettered.
TRANSIENT = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError, asyncpg.TooManyConnectionsError,
             asyncpg.CannotConnectNowError)  # fmt: skip
# Errors a plain retry of the same transaction resolves (another writer got there first).
RETRYABLE = (ConcurrencyError, StreamOrderRetry, asyncpg.SerializationError, asyncpg.DeadlockDetectedError)


@dataclass(frozen=True)
class RawMessage:
    """A Kafka record as a raw subscription's handler receives it (the value is not a domain event)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]


@dataclass
class HandlerContext:
    """What a handler gets: the open transaction, the runtime, and the context of the events it writes."""

    conn: Any
    runtime: ServiceRuntime
    command: CommandContext
    message: RecordedEvent | RawMessage | None

    @property
    def repository(self):
        return self.runtime.repository

    @property
    def clock(self):
        return self.runtime.clock


Handler = Callable[[HandlerContext, RecordedEvent], Awaitable[None]]
RawHandler = Callable[[HandlerContext, RawMessage], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    topic: str
    consumer: str  # consumer group and inbox name, e.g. "legal.residence-procedure"
    handle: Handler | RawHandler
    event_types: frozenset[str] | None = None  # others are acknowledged and ignored
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # Raw mode: ``handle`` gets a RawMessage and ``message_id`` gives its inbox key. ``message_id`` raising
    # ValueError (a pydantic ValidationError is one), KeyError, LookupError or TypeError marks the message as
    # poison: it is dead-lettered, never retried.
    raw: bool = False
    message_id: Callable[[RawMessage], UUID] | None = None

    def __post_init__(self) -> None:
        if self.raw and self.message_id is None:
            raise ValueError(f"raw subscription {self.consumer} needs a message_id (its inbox key)")


# The last known lag of each partition, per (service, consumer): the gauge shows their sum.
_LAGS: dict[tuple[str, str], dict[tuple[str, int], int]] = {}


class PoisonMessage(Exception):
    """The message cannot be understood: no retry can help."""


def _headers(message: KafkaMessage) -> dict[str, str]:
    raw = message.raw_message
    return {k: v.decode(errors="replace") for k, v in (raw.headers or [])}


def describe(error: BaseException) -> str:
    """A reason for the dead-letter headers that never quotes the message's values (they may be personal)."""
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in error.errors())[:500]
    if isinstance(error, PoisonMessage) and isinstance(error.__cause__, ValidationError):
        return describe(error.__cause__)
    return str(error)[:500]


class InboxConsumer:
    """Runs one subscription: decode, dedupe, handle in one transaction, retry, dead-letter."""

    def __init__(self, runtime: ServiceRuntime, subscription: Subscription) -> None:
        self.runtime = runtime
        self.subscription = subscription
        self.max_attempts = runtime.settings.consumer_max_attempts
        self.handled = 0
        self.dead_lettered = 0

    def register(self, broker: KafkaBroker, *, group_timeouts: dict[str, int]) -> None:
        sub = self.subscription
        # Subscriptions that name one consumer (group and inbox) are read by one Kafka consumer, registered by
        # the first of them: a group then joins once, not once per topic. Each join costs a rebalance (seconds),
        # so forty audience topics read by forty consumers would take minutes to start.
        siblings = [s for s in self.runtime.definition.subscriptions if s.consumer == sub.consumer] or [sub]
        if siblings[0] is not sub:
            return
        topics = list(dict.fromkeys(s.topic for s in siblings))

        @broker.subscriber(
            *topics,
            group_id=sub.consumer + self.runtime.settings.consumer_group_suffix,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            title=f"{sub.consumer}:{sub.topic}" if len(topics) == 1 else sub.consumer,
            description=sub.description or sub.handle.__doc__,
            **group_timeouts,
        )
        async def on_message(message: KafkaMessage) -> None:
            # The raw bytes, not FastStream's decoding: validation is ours, so a bad message is dead-lettered
            # by us (with a reason that quotes no value) instead of failing inside the framework.
            await self._for_topic(message.raw_message.topic).consume(message.body, message)

    def _for_topic(self, topic: str) -> InboxConsumer:
        """The sibling consumer whose subscription reads ``topic`` (the runtime lists them all by now)."""
        for consumer in self.runtime.consumers:
            if consumer.subscription.consumer == self.subscription.consumer and consumer.subscription.topic == topic:
                return consumer
        return self

    def _observe_lag(self, message: KafkaMessage) -> None:
        """Consumer lag: messages behind the partition's end, summed over the partitions this group reads here."""
        raw = message.raw_message
        consumer = getattr(message, "consumer", None)
        highwater = getattr(consumer, "highwater", None)
        if highwater is None:
            return
        end = highwater(TopicPartition(raw.topic, raw.partition))
        if end is None:
            return
        lags = _LAGS.setdefault((self.runtime.name, self.subscription.consumer), {})
        lags[(raw.topic, raw.partition)] = max(0, end - raw.offset - 1)
        telemetry.CONSUMER_LAG.labels(self.runtime.name, self.subscription.consumer).set(sum(lags.values()))

    async def consume(self, body: bytes, message: KafkaMessage) -> None:
        raw = message.raw_message
        self._observe_lag(message)
        headers = _headers(message)
        wanted = self.subscription.event_types
        if not self.subscription.raw and wanted is not None and headers.get("event_type") not in (None, *wanted):
            # Not for this consumer: skipped on the header alone (decoding every event of a busy topic only to
            # drop it cost a service a quarter of a core).
            return
        try:
            if self.subscription.raw:
                payload: RecordedEvent | RawMessage = self._decode_raw(headers, body, message)
            else:
                payload = self._decode(headers, body)
        except PoisonMessage as error:
            await self.dead_letter(body, message, error.__cause__ or error)
            return
        if (
            isinstance(payload, RecordedEvent)
            and self.subscription.event_types is not None
            and payload.event_type not in self.subscription.event_types
        ):
            return
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._apply_once(payload, raw.topic, raw.partition, raw.offset)
                telemetry.CONSUMED.labels(self.runtime.name, self.subscription.consumer, "handled").inc()
                return
            except TRANSIENT:
                # Not acknowledged: FastStream seeks back and the message is delivered again later.
                telemetry.CONSUMED.labels(self.runtime.name, self.subscription.consumer, "transient").inc()
                await asyncio.sleep(1.0)
                raise
            except RETRYABLE:
                if attempt < self.max_attempts + 5:
                    await asyncio.sleep(0.01 * attempt)
                    continue
                await self.dead_letter(body, message, RuntimeError("kept conflicting with other writers"))
                return
            except Exception as error:
                if attempt < self.max_attempts:
                    await asyncio.sleep(0.05 * attempt)
                    continue
                await self.dead_letter(body, message, error)
                return

    def _decode(self, headers: dict[str, str], body: bytes) -> RecordedEvent:
        try:
            event = RecordedEvent.from_kafka(headers, body)
            event.event  # noqa: B018 - validates the payload against its contract (after upcasting)
        except (KeyError, ValueError, ValidationError, LookupError, TypeError) as error:
            raise PoisonMessage(f"{type(error).__name__}") from error
        return event

    def _decode_raw(self, headers: dict[str, str], body: bytes, message: KafkaMessage) -> RawMessage:
        raw = message.raw_message
        record = RawMessage(raw.topic, raw.partition, raw.offset, raw.key, body, headers)
        assert self.subscription.message_id is not None  # checked by Subscription
        try:
            self.subscription.message_id(record)  # validates the message; the id is asked again when applied
        except (KeyError, ValueError, ValidationError, LookupError, TypeError) as error:
            raise PoisonMessage(f"{type(error).__name__}") from error
        return record

    async def _apply_once(self, payload: RecordedEvent | RawMessage, topic: str, partition: int, offset: int) -> None:
        name = self.subscription.consumer
        if isinstance(payload, RawMessage):
            assert self.subscription.message_id is not None
            message_id = correlation_id = self.subscription.message_id(payload)
        else:
            message_id, correlation_id = payload.event_id, payload.correlation_id or payload.event_id
        async with self.runtime.store.transaction() as conn:
            if await conn.fetchval("SELECT 1 FROM inbox WHERE consumer = $1 AND event_id = $2", name, message_id):
                return  # already applied: a redelivery
            command = CommandContext(
                actor=Actor.system(name),
                correlation_id=correlation_id,
                causation_id=message_id,
                traceparent=telemetry.current_traceparent(),
            )
            handle: Any = self.subscription.handle  # a Handler or a RawHandler, as the subscription's mode says
            await handle(HandlerContext(conn, self.runtime, command, payload), payload)
            # Written last, after the effects: a handler's append then takes its stream lock before this
            # transaction holds an id (see harbour_append). A concurrent duplicate fails here and rolls back.
            await conn.execute(
                'INSERT INTO inbox (consumer, event_id, topic, partition, "offset") VALUES ($1, $2, $3, $4, $5)',
                name, message_id, topic, partition, offset,
            )  # fmt: skip
        self.handled += 1

    async def dead_letter(self, body: bytes, message: KafkaMessage, error: BaseException) -> None:
        raw = message.raw_message
        headers = _headers(message)
        headers.update(
            {
                "dlq.original_topic": raw.topic,
                "dlq.original_partition": str(raw.partition),
                "dlq.original_offset": str(raw.offset),
                "dlq.consumer": self.subscription.consumer,
                "dlq.error_type": type(error).__name__,
                # The message of an exception may quote the payload; keep it short and typed.
                "dlq.error_message": describe(error),
            }
        )
        dlq = f"{raw.topic}.dlq"
        for attempt in range(1, 100):
            try:
                await self.runtime.broker.publish(body, topic=dlq, key=raw.key, headers=headers)
                break
            except KafkaError:
                await asyncio.sleep(min(0.2 * attempt, 5.0))
        else:  # pragma: no cover - the broker never came back: do not acknowledge, let it redeliver
            raise RuntimeError("dead-letter topic unreachable")
        self.dead_lettered += 1
        telemetry.DEAD_LETTERS.labels(self.runtime.name, raw.topic).inc()
        log.warning("dead-lettered %s offset %s for %s: %s", raw.topic, raw.offset, self.subscription.consumer,
                    type(error).__name__)  # fmt: skip
