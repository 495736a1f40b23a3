"""Consumers: FastStream subscribers whose effects are applied exactly once through an inbox.

Offsets are committed only after the handler's transaction committed (AckPolicy.NACK_ON_ERROR, never
FastStream's default ack-first), and several records' together a moment later (harbour.kafka.commits).
The inbox row (consumer, event id) is written in that same transaction,
so a redelivered message has no second effect. A message that is malformed, or whose handler keeps
failing, goes to ``<topic>.dlq`` with the reason in its headers, and the partition keeps flowing. An outage
of PostgreSQL is not the message's fault: the message is not acknowledged and comes back later.

Most subscriptions read domain events (``RecordedEvent`` envelopes). A ``raw`` subscription reads messages
that are not events, such as audience milestones: the handler gets the Kafka record as a ``RawMessage``
and the subscription's ``message_id`` names it for the inbox; the same retries and dead letters apply.
Subscriptions that share a consumer name are read by one Kafka consumer (one group join for many topics).

Nothing of FastStream touches a record's bytes. Its default parser decodes every header as UTF-8 and its
default decoder parses a value labelled ``content-type: application/json`` as JSON, both before any of our code
runs and outside our error handling: one such record with bad bytes was nacked and redelivered without end, and
every consumer group of its partition stopped there. Our subscribers therefore give FastStream a parser that
shows it only a well-formed trace context (``traceparent``/``tracestate``, for the telemetry middleware) and a
decoder that decodes nothing; the record itself (``message.raw_message``) reaches ``consume`` untouched, where
every decoding step is ours and any failure of it is a dead letter.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import IllegalStateError, KafkaError, MessageSizeTooLargeError, RecordTooLargeError
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from pydantic import ValidationError

from harbour import telemetry
from harbour.db import Connection
from harbour.errors import ConcurrencyError, HarbourError
from harbour.kafka.commits import OffsetCommits
from harbour.kafka.rebuild import RELAY_EPOCH_HEADER, AssignmentWatch, RelayEpochs
from harbour.kafka.security import client_options
from harbour.settings import HarbourSettings
from harbour.store import Actor, CommandContext, RecordedEvent
from harbour.store.envelope import HEADER_NAMES
from harbour.store.eventstore import StreamOrderRetry

if TYPE_CHECKING:
    from harbour.clock import Clock
    from harbour.repository import Repository
    from harbour.service import ServiceRuntime

log = logging.getLogger("harbour.consumer")

# Errors that usually say "the database is away", not "this message is bad". Usually: asyncpg.DataError (a value
# the driver cannot encode) is an InterfaceError too, and a handler can fail the same way on every delivery.
# So no error type alone decides: after any failure the database is asked, and only an unreachable database
# sends the message back unacknowledged; while it answers, the failure is the message's and counts as an attempt.
TRANSIENT = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError, asyncpg.TooManyConnectionsError,
             asyncpg.CannotConnectNowError, asyncpg.InternalClientError, asyncpg.OperatorInterventionError,
             asyncpg.ObjectNotInPrerequisiteStateError, TimeoutError)  # fmt: skip
# Errors a plain retry of the same transaction resolves (another writer got there first).
RETRYABLE = (ConcurrencyError, StreamOrderRetry, asyncpg.SerializationError, asyncpg.DeadlockDetectedError)


@dataclass(frozen=True)
class RawMessage:
    """A Kafka record as a raw subscription's handler receives it (the value is not a domain event)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes  # a tombstone (no value) reads as b""
    headers: dict[str, str]  # the readable ones (UTF-8, with a value); the record keeps the rest


@dataclass
class HandlerContext:
    """What a handler gets: the open transaction, the runtime, and the context of the events it writes."""

    conn: Connection
    runtime: ServiceRuntime
    command: CommandContext
    message: RecordedEvent | RawMessage | None

    @property
    def repository(self) -> Repository:
        return self.runtime.repository

    @property
    def clock(self) -> Clock:
        return self.runtime.clock


Handler = Callable[[HandlerContext, RecordedEvent], Awaitable[None]]


class GroupTimeouts(TypedDict):
    """How long a consumer group waits for its members (the settings' consumer_*_ms), as the subscriber takes them."""

    session_timeout_ms: int
    heartbeat_interval_ms: int
    rebalance_timeout_ms: int


RawHandler = Callable[[HandlerContext, RawMessage], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    topic: str
    consumer: str  # consumer group and inbox name, e.g. "legal.residence-procedure"
    handle: Handler | RawHandler
    event_types: frozenset[str] | None = None  # others are acknowledged and ignored
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # Raw mode: ``handle`` gets a RawMessage and ``message_id`` gives its inbox key. ``message_id`` must be a
    # pure function of the record: any exception it raises marks the message as poison (dead-lettered, never
    # retried).
    raw: bool = False
    message_id: Callable[[RawMessage], UUID] | None = None

    def __post_init__(self) -> None:
        if self.raw and self.message_id is None:
            raise ValueError(f"raw subscription {self.consumer} needs a message_id (its inbox key)")


# Why a record went to its dead-letter topic (the ``dlq.reason`` header; ``harbour dlq list`` shows it).
REASON_POISON = "poison"  # it cannot be decoded or validated: no retry can help
REASON_FAILED = "handler-failed"  # the handler failed on every attempt while the database answered
REASON_CONFLICTS = "conflicts"  # it kept conflicting with other writers
REASON_PARKED = "parked"  # an operator parked it by hand (``harbour dlq park``)

# Headers FastStream is allowed to see (its telemetry middleware continues the trace from them).
_FRAMEWORK_HEADERS = frozenset({"traceparent", "tracestate"})
# A dead letter may be a little larger than the record it copies (the dlq.* headers): the producer allows it.
_LETTER_HEADROOM = 64 * 1024


class PoisonMessage(Exception):
    """The message cannot be understood: no retry can help."""


def _framework_headers(headers: Sequence[tuple[str, bytes | None]] | None) -> list[tuple[str, bytes]]:
    """The record's trace context when it is one short printable ASCII value per name; nothing else.

    Everything else FastStream would act on stays hidden from it: a ``reply_to`` header would make it publish
    the handler's answer to a topic the record names, ``content-type`` would make it parse the value, and its
    parser decodes every header value as UTF-8 (a value that is not, or a header without a value, raised there).
    """
    found: dict[str, list[bytes | None]] = {}
    for name, value in headers or ():
        if name in _FRAMEWORK_HEADERS:
            found.setdefault(name, []).append(value)
    safe = []
    for name, values in found.items():
        [value, *more] = values
        if more or not isinstance(value, bytes) or len(value) > 512 or not value.isascii():
            continue
        if value.decode().isprintable():
            safe.append((name, value))
    return safe


# The consumer whose Kafka consumer loop runs in this task: set around its subscriber's start, so that the consume
# loop task FastStream creates there (and restarts from there) inherits it. The telemetry middleware is the
# broker's, shared by every subscriber, and sees only the record; this tells it whose record it is.
_READER: ContextVar[InboxConsumer | None] = ContextVar("harbour_reader", default=None)


def read_by_its_consumer(record: Any) -> bool:
    """Whether the consumer reading ``record`` reads it, rather than passing over it unread (``InboxConsumer._skips``);
    true for anything this cannot place, so that nothing is left untraced by mistake."""
    reader = _READER.get()
    if reader is None or not isinstance(record, ConsumerRecord):
        return True
    return not reader._for_topic(record.topic)._skips(RecordHeaders.of(record))


def record_parser(commits: OffsetCommits) -> Callable[[ConsumerRecord, Callable[..., Awaitable[Any]]], Awaitable[Any]]:
    """FastStream's parser on a copy of the record that it cannot trip over; the message keeps the original, and
    acknowledges through ``commits`` (harbour.kafka.commits: a bookmark, not a commit per record)."""

    async def parse_record(record: ConsumerRecord, default_parser: Callable[[ConsumerRecord], Awaitable[Any]]) -> Any:
        message = await default_parser(dataclasses.replace(record, headers=_framework_headers(record.headers)))
        message.raw_message = record
        message.consumer = commits.acknowledger(message.consumer, record)
        return message

    return parse_record


async def decode_nothing(message: KafkaMessage) -> KafkaMessage:
    """FastStream's decoder, replaced: the bytes are decoded by ``InboxConsumer.consume``, inside its handling.
    The handler receives the message itself as its "body" (the runtime's broker applies no dependency injection:
    ``ServiceRuntime._make_broker``)."""
    return message


@dataclass(frozen=True)
class RecordHeaders:
    """A record's headers as Harbour reads them: the readable ones, and the names of those that are not."""

    readable: dict[str, str]
    unreadable: frozenset[str]  # no value, not UTF-8, or given twice with different values

    @classmethod
    def of(cls, record: ConsumerRecord) -> RecordHeaders:
        readable: dict[str, str] = {}
        unreadable: set[str] = set()
        for name, value in record.headers or ():
            try:
                text = value.decode() if isinstance(value, bytes) else None
            except UnicodeDecodeError:
                text = None
            if text is None or readable.get(name, text) != text:
                unreadable.add(name)
            else:
                readable[name] = text
        for name in unreadable:
            readable.pop(name, None)
        return cls(readable, frozenset(unreadable))


def describe(error: BaseException) -> str:
    """A reason for the dead-letter headers that never quotes the message's values (they may be personal)."""
    try:
        if isinstance(error, ValidationError):
            return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in error.errors())[:500]
        if isinstance(error, PoisonMessage) and isinstance(error.__cause__, ValidationError):
            return describe(error.__cause__)
        # The database's and the driver's messages quote the values they refused ('invalid input for query
        # argument $1: ...'): the kind of error only.
        if isinstance(error, asyncpg.PostgresError):
            return f"{type(error).__name__} (SQLSTATE {error.sqlstate})"
        if isinstance(error, asyncpg.InterfaceError):
            return type(error).__name__
        # Any other exception's text may quote what the handler was holding (a KeyError names the missing value,
        # a ValueError the bad one): a dead-letter topic is read by operators, so only the kind of error goes,
        # and for the domain's own refusals the rule's title and the field at fault.
        if isinstance(error, HarbourError):
            return f"{type(error).__name__}: {error.title}" + (f" (field {error.field})" if error.field else "")
        return type(error).__name__
    except Exception:  # an exception whose str() fails is still a reason
        return type(error).__name__


def letter_headers(
    record: ConsumerRecord, *, consumer: str, reason: str, error_type: str, error_message: str
) -> list[tuple[str, bytes | None]]:
    """The original headers byte for byte (without any ``dlq.*`` a record brought along), then ours."""
    kept = [(k, v) for k, v in (record.headers or ()) if not k.startswith("dlq.")]
    ours = {
        "dlq.original_topic": record.topic,
        "dlq.original_partition": str(record.partition),
        "dlq.original_offset": str(record.offset),
        "dlq.consumer": consumer,
        "dlq.reason": reason,
        "dlq.error_type": error_type,
        # The message of an exception may quote the payload; keep it short and typed.
        "dlq.error_message": error_message,
    }
    return kept + [(k, v.encode()) for k, v in ours.items()]


def letter_producer(bootstrap: str, settings: HarbourSettings) -> AIOKafkaProducer:
    """A producer for dead letters (not started): the service's acks and idempotence, room for a letter a little
    larger than the largest record a default broker takes."""
    acks: Any = settings.kafka_acks if settings.kafka_acks == "all" else int(settings.kafka_acks)
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks=acks, enable_idempotence=settings.kafka_idempotence,
        request_timeout_ms=10000, max_request_size=1048576 + _LETTER_HEADROOM, **client_options(settings),
    )  # fmt: skip


async def send_letter(producer: AIOKafkaProducer, record: ConsumerRecord, headers: list[tuple[str, Any]]) -> None:
    """Publish the dead letter of ``record`` and wait for the broker's acknowledgement.

    A letter too large for the producer or the topic (a record near the broker's limit with long headers)
    goes without its value, then without the original headers, saying what it left out: the record itself
    stays on its topic at the offset the letter names. Other Kafka errors (the broker is away) are raised.
    """
    value, kept = record.value, headers
    for _ in range(3):
        try:
            await producer.send_and_wait(f"{record.topic}.dlq", value, key=record.key, headers=kept)
            return
        except (MessageSizeTooLargeError, RecordTooLargeError):
            if value is not None:
                size = len(value)
                value = None
                kept = [*kept, ("dlq.value_omitted", f"{size} bytes: too large for the dead-letter topic".encode())]
            else:
                kept = [(k, v) for k, v in kept if k.startswith("dlq.")] + [("dlq.headers_omitted", b"too large")]
    raise RecordTooLargeError("the dead letter does not fit even without its value and headers")


class InboxConsumer:
    """Runs one subscription: decode, dedupe, handle in one transaction, retry, dead-letter."""

    # Dead-lettering waits this long for the broker before the message is sent back unacknowledged (and comes
    # back, to be dead-lettered again): well within aiokafka's max_poll_interval_ms, so the group keeps us.
    dead_letter_patience_s = 60.0

    def __init__(self, runtime: ServiceRuntime, subscription: Subscription) -> None:
        self.runtime = runtime
        self.subscription = subscription
        self.max_attempts = runtime.settings.consumer_max_attempts
        self.handled = 0
        self.dead_lettered = 0
        self.dead_letter_failures = 0  # publishes of a dead letter that the broker did not acknowledge
        self._producer: AIOKafkaProducer | None = None
        self._producer_lock = asyncio.Lock()
        # The relays' epochs this consumer read, per topic-partition: the owner's serves its siblings (one Kafka
        # consumer reads them all).
        self.epochs = RelayEpochs(subscription.consumer)
        # At zero from the start: a series that first appears at 1 has no earlier sample, so increase() (the
        # dead-letters panel, the dead-letters alert) would not see the first dead letter after a restart.
        telemetry.DEAD_LETTERS.labels(runtime.name, subscription.topic)

    def register(self, broker: KafkaBroker, *, group_timeouts: GroupTimeouts) -> None:
        sub = self.subscription
        # Subscriptions that name one consumer (group and inbox) are read by one Kafka consumer, registered by
        # the first of them: a group then joins once, not once per topic. Each join costs a rebalance (seconds),
        # so forty audience topics read by forty consumers would take minutes to start.
        siblings = [s for s in self.runtime.definition.subscriptions if s.consumer == sub.consumer] or [sub]
        if siblings[0] is not sub:
            return
        topics = list(dict.fromkeys(s.topic for s in siblings))
        # Broker loss (H2, harbour.kafka.rebuild): a group re-formed while its topics were gone gets none of their
        # partitions (for minutes; on Tansu for good); the watch rejoins the group once they are back.
        commits = OffsetCommits(self.runtime.settings.consumer_commit_seconds)
        watch = AssignmentWatch(topics, before_revoke=commits.flush)

        subscriber = broker.subscriber(
            *topics,
            group_id=sub.consumer + self.runtime.settings.consumer_group_suffix,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            # The record reaches ``consume`` undecoded: see the module's docstring.
            parser=record_parser(commits),
            decoder=decode_nothing,
            # Never answer to a reply_to a record may carry (the parser hides it too).
            no_reply=True,
            title=f"{sub.consumer}:{sub.topic}" if len(topics) == 1 else sub.consumer,
            description=sub.description or sub.handle.__doc__,
            listener=watch,
            **group_timeouts,
        )
        watch.attach(subscriber)

        @subscriber
        async def on_message(message: KafkaMessage) -> None:
            record: ConsumerRecord = message.raw_message  # one record: this subscriber reads no batches
            await self._for_topic(record.topic).consume(message)

        start = subscriber.start

        async def start_as_reader() -> None:
            token = _READER.set(self)
            try:
                await start()
            finally:
                _READER.reset(token)

        subscriber.start = start_as_reader  # type: ignore[method-assign]

        # The dead-letter producer stops with the subscriber (the runtime stops the broker, which stops these).
        stop = subscriber.stop

        async def stop_with_producer() -> None:
            try:
                await commits.close()  # before the consumer goes: what was handled is not read again
                await stop()
            finally:
                await self.close()

        subscriber.stop = stop_with_producer  # type: ignore[method-assign]

    def _for_topic(self, topic: str) -> InboxConsumer:
        """The sibling consumer whose subscription reads ``topic`` (the runtime lists them all by now)."""
        for consumer in self.runtime.consumers:
            if consumer.subscription.consumer == self.subscription.consumer and consumer.subscription.topic == topic:
                return consumer
        return self

    def _owner(self) -> InboxConsumer:
        """The sibling that registered the Kafka consumer: it holds the one dead-letter producer of the group."""
        for consumer in self.runtime.consumers:
            if consumer.subscription.consumer == self.subscription.consumer:
                return consumer
        return self

    def _skips(self, headers: RecordHeaders) -> bool:
        """A well-formed record of an event type this consumer does not read is not for it (decoding every event
        of a busy topic only to drop it cost a service a quarter of a core). Not poison either: a newer upstream
        may publish types an older consumer does not know. A type header that is unreadable is not a type."""
        wanted = self.subscription.event_types
        if self.subscription.raw or wanted is None or "event_type" in headers.unreadable:
            return False
        event_type = headers.readable.get("event_type")
        return event_type is not None and event_type not in wanted

    async def consume(self, message: KafkaMessage) -> None:
        """Apply one record once, or dead-letter it. Raises only to leave it unacknowledged (database or broker
        away): FastStream then seeks back and the record comes again."""
        raw: ConsumerRecord = message.raw_message
        headers = RecordHeaders.of(raw)
        if await self._log_published_again(message, raw, headers):
            return
        try:
            if self._skips(headers):
                return
            payload = self._decode_raw(headers, raw) if self.subscription.raw else self._decode(headers, raw.value)
        except Exception as error:  # decoding is pure: whatever it raises, the record is at fault
            original = error.__cause__ if isinstance(error, PoisonMessage) and error.__cause__ is not None else error
            await self.dead_letter(raw, original, reason=REASON_POISON, message=describe(error))
            return
        if isinstance(payload, RecordedEvent) and self.subscription.event_types is not None \
                and payload.event_type not in self.subscription.event_types:  # fmt: skip
            return
        await self._apply_with_retries(payload, raw)

    async def _log_published_again(self, message: KafkaMessage, raw: ConsumerRecord, headers: RecordHeaders) -> bool:
        """Whether the record's partition is to be read again from its start, the record left unread for now
        (harbour.kafka.rebuild, RelayEpochs): its relay published its store again since this consumer last read it."""
        epochs = self._owner().epochs
        try:
            return await epochs.rewinds(self.runtime.store.pool, message.consumer, raw,
                                        headers.readable.get(RELAY_EPOCH_HEADER))  # fmt: skip
        except IllegalStateError:
            # The partition went to another member meanwhile; it reads the same epochs, and its records are its own.
            epochs.forget(raw.topic, raw.partition)
            return True
        except Exception:
            # The database is away (the epochs are read and written there): not acknowledged, it comes again.
            telemetry.CONSUMED.labels(self.runtime.name, self.subscription.consumer, "transient").inc()
            await asyncio.sleep(1.0)
            raise

    async def _apply_with_retries(self, payload: RecordedEvent | RawMessage, raw: ConsumerRecord) -> None:
        attempt = conflicts = 0
        while True:
            try:
                await self._apply_once(payload, raw.topic, raw.partition, raw.offset)
                telemetry.CONSUMED.labels(self.runtime.name, self.subscription.consumer, "handled").inc()
                return
            except RETRYABLE:
                conflicts += 1
                if conflicts < self.max_attempts + 5:
                    await asyncio.sleep(0.01 * conflicts)
                    continue
                await self.dead_letter(raw, RuntimeError("kept conflicting with other writers"),
                                       reason=REASON_CONFLICTS)  # fmt: skip
                return
            except Exception as error:
                if not await self._database_answers():
                    # Not the message's fault: not acknowledged, FastStream seeks back and it comes again later.
                    telemetry.CONSUMED.labels(self.runtime.name, self.subscription.consumer, "transient").inc()
                    await asyncio.sleep(1.0)
                    raise
                attempt += 1
                # The database answers, so the failure is this message's. A connection-level error gets a few more
                # tries (a backend terminated under us comes back on the next connection); none gets more than that.
                budget = self.max_attempts + (5 if isinstance(error, TRANSIENT) else 0)
                if attempt < budget:
                    await asyncio.sleep(min(0.05 * attempt, 1.0))
                    continue
                await self.dead_letter(raw, error, reason=REASON_FAILED)
                return

    async def _database_answers(self) -> bool:
        try:
            async with asyncio.timeout(5.0), self.runtime.store.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
            return True
        except Exception:
            return False

    def _decode(self, headers: RecordHeaders, value: bytes | None) -> RecordedEvent:
        bad = sorted(headers.unreadable & set(HEADER_NAMES))
        if bad:
            raise PoisonMessage(f"unreadable envelope header(s): {', '.join(bad)} (no value, not UTF-8, or twice)")
        if value is None:
            raise PoisonMessage("no value (a tombstone)")
        try:
            event = RecordedEvent.from_kafka(headers.readable, value)
            event.event  # noqa: B018 - validates the payload against its contract (after upcasting)
        except ValidationError as error:
            raise PoisonMessage(type(error).__name__) from error
        except KeyError as error:
            raise PoisonMessage(f"missing envelope header {error}") from error
        except UnicodeDecodeError as error:
            raise PoisonMessage("value is not UTF-8") from error
        except json.JSONDecodeError as error:
            raise PoisonMessage(f"value is not JSON: {error.msg} at {error.pos}") from error
        except RecursionError as error:
            raise PoisonMessage("value nests too deeply") from error
        except Exception as error:
            # int(), dates and the like quote the text they refused: the type and the step only.
            raise PoisonMessage(f"malformed envelope or payload ({type(error).__name__})") from error
        return event

    def _decode_raw(self, headers: RecordHeaders, raw: ConsumerRecord) -> RawMessage:
        record = RawMessage(raw.topic, raw.partition, raw.offset, raw.key, raw.value or b"", headers.readable)
        assert self.subscription.message_id is not None  # checked by Subscription
        try:
            self.subscription.message_id(record)  # validates the message; the id is asked again when applied
        except Exception as error:
            raise PoisonMessage(describe(error)) from error
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

    # -- dead letters -------------------------------------------------------------------------------------
    async def _letter_producer(self) -> AIOKafkaProducer:
        owner = self._owner()
        if owner is not self:
            return await owner._letter_producer()
        async with self._producer_lock:
            if self._producer is None:
                producer = letter_producer(self.runtime.endpoints.bootstrap, self.runtime.settings)
                await producer.start()
                self._producer = producer
            return self._producer

    async def close(self) -> None:
        """Stop the dead-letter producer, if one was started."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.stop()
            except Exception:  # a producer of a broker that is gone may fail to stop cleanly
                log.debug("dead-letter producer did not stop cleanly", exc_info=True)

    async def dead_letter(
        self, record: ConsumerRecord, error: BaseException, *, reason: str, message: str | None = None
    ) -> None:
        """Copy ``record`` to ``<topic>.dlq`` with why, and return once the broker acknowledged it.

        The caller acknowledges the record only after this returns: while the broker is away this keeps trying,
        and after ``dead_letter_patience_s`` it raises, leaving the record unacknowledged (it comes back and is
        dead-lettered then). Never lost; at worst a letter twice, if an acknowledgement was lost on the way.
        """
        headers = letter_headers(record, consumer=self.subscription.consumer, reason=reason,
                                 error_type=type(error).__name__, error_message=message or describe(error))  # fmt: skip
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.dead_letter_patience_s
        attempt = 0
        while True:
            attempt += 1
            try:
                await send_letter(await self._letter_producer(), record, headers)
                break
            except (KafkaError, OSError) as failure:
                self.dead_letter_failures += 1
                if loop.time() >= deadline:
                    log.error("dead letter of %s offset %s not acknowledged (%s): left for redelivery",
                              record.topic, record.offset, type(failure).__name__)  # fmt: skip
                    raise
                await asyncio.sleep(min(0.2 * attempt, 5.0))
        self.dead_lettered += 1
        telemetry.DEAD_LETTERS.labels(self.runtime.name, record.topic).inc()
        log.warning("dead-lettered %s offset %s for %s: %s (%s)", record.topic, record.offset,
                    self.subscription.consumer, type(error).__name__, reason)  # fmt: skip
