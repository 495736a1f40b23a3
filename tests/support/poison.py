"""Poison records and the good records around them, as a raw producer puts them on the platform's topics.

A poison record is one that no consumer can use: any bytes, any headers (non-UTF-8 values, duplicates, a
header without a value), any content type, any size, a tombstone, no key. A good record is a real event (or
milestone) in its real wire form, with a fresh id, that every consumer it is meant for applies.

What the fault tests count is here too: the inbox rows of each consumer group (applied, exactly once) and
the dead letters of each ``<topic>.dlq`` by (original partition, original offset, consumer).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from hypothesis import strategies as st

import schemas.intake
import schemas.legal
import schemas.tracks
from harbour.events import DomainEvent
from harbour.store import Actor, RecordedEvent
from harbour_tools.ops import read_topics
from schemas.intake import CaseOpened, Centre, Region
from schemas.milestones import Milestone, MilestoneType

_CONTRACTS = (schemas.intake, schemas.legal, schemas.tracks)

Headers = list[tuple[str, bytes | None]]


@dataclass(frozen=True)
class Record:
    """One record as the raw producer sends it, and what it was meant to be."""

    topic: str
    value: bytes | None
    key: bytes | None
    headers: Headers
    good: bool
    message_id: uuid.UUID | None = None  # a good record's inbox key (event id or milestone id)


@dataclass(frozen=True)
class Sent:
    record: Record
    partition: int
    offset: int


def envelope(event: DomainEvent, case_id: str, *, event_id: uuid.UUID | None = None) -> RecordedEvent:
    """A stored event as the relay would publish it (full envelope, fresh id)."""
    now = datetime.now(UTC)
    return RecordedEvent(
        event_id=event_id or uuid.uuid4(), stream_id=f"poison-{case_id}", stream_type="poison", stream_version=1,
        global_position=1, tx_id=1, event_type=event.event_type, schema_version=event.schema_version,
        payload=json.loads(event.model_dump_json()), case_id=case_id, jurisdiction="BE", occurred_at=now,
        recorded_at=now, actor=Actor("centre-payoke", "caseworker", "poison-test"), correlation_id=None,
        causation_id=None, traceparent=None,
    )  # fmt: skip


def good_event(topic: str, event: DomainEvent, case_id: str) -> Record:
    recorded = envelope(event, case_id)
    headers: Headers = list(recorded.headers())
    return Record(topic, recorded.value(), case_id.encode(), headers, True, recorded.event_id)


def case_opened(case_id: str) -> CaseOpened:
    """A case for a non-EU adult who needs no shelter tonight: every reaction to it succeeds without setup."""
    return CaseOpened(
        case_id=case_id, referral_id=f"ref-{case_id}", centre=Centre.PAYOKE, person_id=f"person-{case_id}",
        minor=False, eu_citizen=False, needs_shelter_tonight=False, referring_organisation_id="police-antwerp",
        region=Region.FLANDERS, opened_on=date(2026, 1, 5),
    )  # fmt: skip


def good_milestone(topic: str, audience: str, case_ref: str) -> Record:
    milestone = Milestone(
        milestone_id=uuid.uuid4(), milestone=MilestoneType.HEARING_SCHEDULED, audience=audience, case_ref=case_ref,
        occurred_on=date(2026, 3, 1), recorded_at=datetime(2026, 3, 1, 9, 0, tzinfo=UTC), source="legal",
        data={"sequence": 1, "stay_valid_on_hearing_day": True},
    )  # fmt: skip
    headers: Headers = [("milestone", milestone.milestone.value.encode()), ("content-type", b"application/json")]
    return Record(topic, milestone.model_dump_json().encode(), case_ref.encode(), headers, True,
                  milestone.milestone_id)  # fmt: skip


async def send_all(
    bootstrap: str, records: Sequence[Record], *, partitions: Sequence[int | None] | None = None
) -> list[Sent]:
    """Publish in order with a raw producer (no Harbour code on the way) and wait for every acknowledgement;
    ``partitions`` pins a record to a partition (None: where its key, or the lack of one, sends it). One request
    in flight at a time, so that each partition keeps the order of ``records``."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 * 1024 * 1024, linger_ms=5,
                                request_timeout_ms=30000, max_batch_size=1024 * 1024)  # fmt: skip
    await producer.start()
    try:
        futures = [
            await producer.send(record.topic, record.value, key=record.key, headers=record.headers, partition=p)
            for record, p in zip(records, partitions or [None] * len(records), strict=True)
        ]
        metas = [await future for future in futures]
    finally:
        await producer.stop()
    return [Sent(record, meta.partition, meta.offset) for record, meta in zip(records, metas, strict=True)]


async def read_all(bootstrap: str, topics: Iterable[str], *, quiet_ms: int = 1000) -> list[Any]:
    """Every record on ``topics`` from the beginning, as ``harbour dlq list`` reads them (harbour_tools.ops), within
    a minute: a test that waits on a broker must end with the counts of the moment, never hang."""
    async with asyncio.timeout(60):
        return await read_topics(bootstrap, list(topics), quiet_ms=quiet_ms)


def letters_by_origin(records: Iterable[Any]) -> Counter[tuple[str, int, int, str]]:
    """Dead letters counted by (original topic, partition, offset, consumer that failed it)."""
    counts: Counter[tuple[str, int, int, str]] = Counter()
    for r in records:
        h = {k: (v or b"").decode(errors="replace") for k, v in (r.headers or [])}
        counts[(h.get("dlq.original_topic", "?"), int(h.get("dlq.original_partition", "-1")),
                int(h.get("dlq.original_offset", "-1")), h.get("dlq.consumer", "?"))] += 1  # fmt: skip
    return counts


async def inbox_counts(pool: asyncpg.Pool, ids: Iterable[uuid.UUID]) -> Counter[tuple[str, uuid.UUID]]:
    """Inbox rows per (consumer, message id) among ``ids``: 1 means applied exactly once."""
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT consumer, event_id FROM inbox WHERE event_id = ANY($1::uuid[])", list(ids))
    return Counter((r["consumer"], r["event_id"]) for r in rows)


async def wait_for(predicate, *, timeout: float, interval: float = 0.2) -> bool:
    """True once ``predicate()`` holds, False when ``timeout`` passed first (the caller fails with counts)."""
    try:
        async with asyncio.timeout(timeout):
            while not await predicate():
                await asyncio.sleep(interval)
        return True
    except TimeoutError:
        return False


# --------------------------------------------------------------------------------------------- strategies
# Every strategy below yields records that no consumer can use: each breaks something the consumer needs
# (the value, or an envelope header of a domain event), whatever else it randomises. None can come out good
# by chance: a good domain event needs a UUID event id, integer versions, an ISO date, a registered type
# and a payload its contract accepts; a good milestone needs its contract and the audience of its topic.

ENVELOPE = ("event_id", "event_type", "schema_version", "stream_id", "stream_version", "case_id", "occurred_at",
            "content-type", "correlation_id", "traceparent")  # fmt: skip
HUGE = 1_000_000  # near the producer's and Apache Kafka's default limit (1 MiB): the letter still carries it
OVERSIZED = 2_000_000  # beyond it (the development broker takes it): the letter goes without its value

# The kinds of poison that hypothesis draws at random (each randomises its bytes, headers and key)...
RANDOM_DOMAIN_KINDS = ("labelled-json", "random", "not-utf8-header", "duplicate-header", "no-value", "empty-value",
                       "wrong-shape", "bad-event-id", "no-event-id")  # fmt: skip
RANDOM_MILESTONE_KINDS = ("labelled-json", "random", "no-value", "wrong-shape", "bad-milestone-id", "misaddressed",
                          "extra-field")  # fmt: skip
# ... and the named ones, built without drawing (``named_poison``): one fixed example of each kind, including
# those too large or too slow to draw many of. (Drawing them all for forty topics overran hypothesis's buffer.)
DOMAIN_KINDS = (*RANDOM_DOMAIN_KINDS, "tombstone-no-headers", "deep-nesting", "reply-to", "huge", "oversized")
MILESTONE_KINDS = (*RANDOM_MILESTONE_KINDS, "deep-nesting", "huge", "oversized")
LARGE_KINDS = ("huge", "oversized")

_names = st.one_of(st.sampled_from([*ENVELOPE, "reply_to", "baggage", "dlq.original_offset", "milestone"]),
                   st.text(min_size=0, max_size=12))  # fmt: skip
_values = st.one_of(st.none(), st.binary(max_size=24), st.text(max_size=24).map(str.encode),
                    st.just(b"\xff\xfe\xfd"), st.just(b"application/json"))  # fmt: skip
random_headers = st.lists(st.tuples(_names, _values), max_size=5)
_not_utf8 = st.binary(min_size=1, max_size=12).map(lambda b: b"\xff" + b)
_keys = st.one_of(st.none(), st.binary(max_size=16))


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False


def _not_json(value: bytes) -> bool:
    try:
        json.loads(value)
        return False
    except (ValueError, RecursionError):
        return True


_garbage = st.one_of(
    st.binary(max_size=120).filter(_not_json),
    st.just(b""),
    st.just(b"\xff{this is not json"),
    st.just(b"[" * 100_000),  # nests deeper than any parser recurses
    st.just(b'{"truncated": '),
)
_wrong_shape = st.one_of(
    st.just(b"[]"), st.just(b"null"), st.just(b"42"), st.just(b'"text"'), st.just(b"{}"),
    st.dictionaries(st.text(max_size=8), st.one_of(st.none(), st.integers(), st.text(max_size=8)), max_size=4)
    .map(lambda d: json.dumps({"unexpected": True, **d}).encode()),
)  # fmt: skip


def _with(headers: Headers, name: str, value: bytes | None) -> Headers:
    return [(k, v) for k, v in headers if k != name] + [(name, value)]


def _sendable(record: Record) -> Record:
    """A record with neither key nor value cannot be sent (the producer refuses it): such a tombstone gets a key."""
    if record.value is None and record.key is None:
        return dataclasses.replace(record, key=b"\x00")
    return record


def domain_poison(topic: str, template: Record) -> st.SearchStrategy[Record]:
    return _domain_poison(topic, template).map(_sendable)


def milestone_poison(topic: str, template: Record, stray: Record) -> st.SearchStrategy[Record]:
    return _milestone_poison(topic, template, stray).map(_sendable)


@st.composite
def _domain_poison(draw: st.DrawFn, topic: str, template: Record) -> Record:
    """A record on a domain topic that no consumer can use; ``template`` is a good record of that topic."""
    h = template.headers
    kind = draw(st.sampled_from(RANDOM_DOMAIN_KINDS))
    key = draw(_keys) if draw(st.booleans()) else template.key
    extra = draw(random_headers) if draw(st.booleans()) else []
    if kind == "labelled-json":
        return Record(topic, draw(_garbage), key, [("content-type", b"application/json"), *extra], False)
    if kind == "random":
        return Record(topic, draw(st.one_of(st.none(), _garbage)), key, draw(random_headers), False)
    if kind == "not-utf8-header":
        return Record(topic, template.value, key, _with(h, draw(st.sampled_from(ENVELOPE)), draw(_not_utf8)), False)
    if kind == "duplicate-header":
        name = draw(st.sampled_from(ENVELOPE))
        first = dict(h).get(name) or b"x"
        other = draw(st.one_of(_values, _not_utf8).filter(lambda v: v != first))
        return Record(topic, template.value, key, [*h, (name, other)] if name in dict(h) else [*h, (name, b"a"),
                      (name, b"b")], False)  # fmt: skip
    if kind == "no-value":
        return Record(topic, None, key, h, False)
    if kind == "empty-value":
        return Record(topic, b"", key, h, False)
    if kind == "wrong-shape":
        return Record(topic, draw(_wrong_shape), key, h, False)
    if kind == "bad-event-id":
        bad = draw(st.text(max_size=40).filter(lambda t: not _is_uuid(t)))
        return Record(topic, template.value, key, _with(h, "event_id", bad.encode()), False)
    if kind == "no-event-id":
        return Record(topic, template.value, key, [(k, v) for k, v in h if k != "event_id"], False)
    raise AssertionError(kind)


@st.composite
def _milestone_poison(draw: st.DrawFn, topic: str, template: Record, stray: Record) -> Record:
    """A record on an audience topic that the feeds cannot store; ``stray`` is a milestone of another audience."""
    kind = draw(st.sampled_from(RANDOM_MILESTONE_KINDS))
    key = draw(_keys) if draw(st.booleans()) else template.key
    headers = draw(random_headers) if draw(st.booleans()) else template.headers
    assert template.value is not None
    doc = json.loads(template.value)
    if kind == "labelled-json":
        return Record(topic, draw(_garbage), key, [("content-type", b"application/json"), *headers], False)
    if kind == "random":
        return Record(topic, draw(st.one_of(st.none(), _garbage)), key, draw(random_headers), False)
    if kind == "no-value":
        return Record(topic, None, key, headers, False)
    if kind == "wrong-shape":
        return Record(topic, draw(_wrong_shape), key, headers, False)
    if kind == "bad-milestone-id":
        bad = draw(st.text(max_size=40).filter(lambda t: not _is_uuid(t)))
        return Record(topic, json.dumps({**doc, "milestone_id": bad}).encode(), key, headers, False)
    if kind == "misaddressed":
        return Record(topic, stray.value, key, headers, False)
    assert kind == "extra-field", kind
    return Record(topic, json.dumps({**doc, "person_name": "x"}).encode(), key, headers, False)


def named_poison(topic: str, template: Record, kind: str, *, stray: Record | None = None) -> Record:
    """One fixed record of a named kind of poison; ``template`` is a good record of the topic (``stray``: a good
    milestone of another audience, for audience topics)."""
    h, key, json_label = template.headers, template.key, ("content-type", b"application/json")
    raw = stray is not None  # an audience topic: the feeds read the value only, headers cannot make it poison
    doc = json.loads(template.value or b"{}")
    values: dict[str, tuple[bytes | None, bytes | None, Headers]] = {
        "labelled-json": (b"\xff{this is not json", key, [json_label, *h[1:2]]),
        "random": (b"\x00\x01garbage\xfe", None, [("event_id", None), ("", b"\xff"), ("x", b"")]),
        "not-utf8-header": (template.value, key, _with(h, "event_id", b"\xff\xfe")),
        "duplicate-header": (template.value, key, [*h, ("case_id", b"another-case")]),
        "no-value": (None, key, h),
        "empty-value": (b"", key, h),
        "wrong-shape": (b"[]", key, h),
        "bad-event-id": (template.value, key, _with(h, "event_id", b"not-a-uuid")),
        "no-event-id": (template.value, key, [(k, v) for k, v in h if k != "event_id"]),
        "tombstone-no-headers": (None, b"\xff\xfe", []),
        "deep-nesting": (b"[" * 100_000, key, [json_label, *h]),
        # FastStream answers a record's reply_to: this one asks for an answer on the topic it came from.
        "reply-to": (b"{not json", key, [("reply_to", topic.encode()), json_label, *h[1:2]]),
        "huge": (b"\xff" * HUGE, key, [json_label, *h]),
        "oversized": (b"\xff" * OVERSIZED, key, [json_label, *h]),
        "bad-milestone-id": (json.dumps({**doc, "milestone_id": "not-a-uuid"}).encode(), key, h),
        "misaddressed": (stray.value if stray else None, key, h),
        "extra-field": (json.dumps({**doc, "person_name": "x"}).encode(), key, h),
    }
    value, record_key, headers = values[kind]
    if raw and kind in ("not-utf8-header", "duplicate-header", "bad-event-id", "no-event-id"):
        raise ValueError(f"{kind} is not poison on an audience topic")
    return Record(topic, value, record_key, headers, False)


def admits(event_types: frozenset[str] | None, headers: Headers) -> bool:
    """Whether a consumer reading ``event_types`` (None: all, or raw) must take this record on: it skips only a
    record whose one event_type header is readable and names a type it does not read (the rule, restated)."""
    if event_types is None:
        return True
    values = [v for k, v in headers if k == "event_type"]
    if not values:
        return True
    texts = set()
    for value in values:
        try:
            texts.add(value.decode())  # type: ignore[union-attr]
        except (AttributeError, UnicodeDecodeError):
            return True
    return len(texts) > 1 or texts.pop() in event_types


class LetterWatch:
    """The dead letters that arrive on ``topics`` from now on, gathered as they come (no consumer group).

    Opened before a test publishes, so that it sees every letter of that test and none of the earlier ones,
    without reading the whole dead-letter log again on every poll.
    """

    def __init__(self, bootstrap: str, topics: Iterable[str]) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.records: list[Any] = []
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> LetterWatch:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None,
                                    fetch_max_bytes=16 << 20, max_partition_fetch_bytes=4 << 20)  # fmt: skip
        await consumer.start()
        self._consumer = consumer
        present = await consumer.topics()
        missing = [t for t in self.topics if t not in present]
        assert not missing, f"dead-letter topics missing: {missing}"
        tps = [TopicPartition(t, p) for t in self.topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)  # resolved now, before anything is published
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def poll(self, timeout_ms: int = 200) -> Counter[tuple[str, int, int, str]]:
        assert self._consumer is not None
        while batch := await self._consumer.getmany(timeout_ms=timeout_ms):
            for msgs in batch.values():
                self.records.extend(msgs)
        return letters_by_origin(self.records)


async def committed_offset(bootstrap: str, group: str, topic: str, partition: int) -> int | None:
    """The offset ``group`` committed on one partition (None: none yet), asked from outside the group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topic, partition))
    finally:
        await consumer.stop()
