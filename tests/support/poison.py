"""Poison records and the good records around them, as a raw producer puts them on the platform's topics.

A poison record is one that no consumer can use: any bytes, any headers (non-UTF-8 values, duplicates, a
header without a value), any content type, any size, a tombstone, no key. A good record is a real event (or
milestone) in its real wire form, with a fresh id, that every consumer it is meant for applies.

What the fault tests count is here too: the inbox rows of each consumer group (applied, exactly once) and
the dead letters of each ``<topic>.dlq`` by (original partition, original offset, consumer).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

import schemas.intake
import schemas.legal
import schemas.tracks
from harbour.events import DomainEvent
from harbour.store import Actor, RecordedEvent
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


async def send_all(bootstrap: str, records: Sequence[Record], *, max_request_size: int = 1048576) -> list[Sent]:
    """Publish in order with a raw producer (no Harbour code on the way), each acknowledged before the next."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=max_request_size,
                                request_timeout_ms=20000)  # fmt: skip
    await producer.start()
    sent: list[Sent] = []
    try:
        for record in records:
            meta = await producer.send_and_wait(record.topic, record.value, key=record.key,
                                                headers=record.headers)  # fmt: skip
            sent.append(Sent(record, meta.partition, meta.offset))
    finally:
        await producer.stop()
    return sent


async def read_all(bootstrap: str, topics: Iterable[str], *, quiet_ms: int = 1000) -> list[Any]:
    """Every record on ``topics`` from the beginning until the log goes quiet (no consumer group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                fetch_max_bytes=8 * 1024 * 1024, max_partition_fetch_bytes=4 * 1024 * 1024)  # fmt: skip
    await consumer.start()
    try:
        present = await consumer.topics()
        tps = [TopicPartition(t, p) for t in topics if t in present
               for p in sorted(consumer.partitions_for_topic(t) or ())]  # fmt: skip
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        while batch := await consumer.getmany(*tps, timeout_ms=quiet_ms):
            for msgs in batch.values():
                records.extend(msgs)
        return records
    finally:
        await consumer.stop()


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
