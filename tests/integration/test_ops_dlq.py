"""``harbour dlq list|replay``: a dead letter shows why it died, and is re-driven to its topic exactly once."""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter

import pytest
from aiokafka import AIOKafkaProducer

from harbour.kafka.consumer import HandlerContext, Subscription
from harbour.kafka.topics import TopicSpec, ensure_topics, register_topics
from harbour.store import Actor, CommandContext, RecordedEvent
from harbour_tools import ops
from tests.support.harness import running_service
from tests.support.kafka import headers_of, read_topic
from tests.support.pantry import ShelfStocked
from tests.support.pantry_service import LARDER, PANTRY, count_stock
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

CTX = CommandContext(actor=Actor("centre-payoke", "caseworker", "t"))
LARDER_CLOSED = {"now": True}


async def count_when_open(ctx: HandlerContext, event: RecordedEvent) -> None:
    """The larder's count, failing while the larder is closed (a handler that fails only for a while)."""
    if LARDER_CLOSED["now"]:
        raise RuntimeError("the larder is closed")
    await count_stock(ctx, event)


async def test_a_dead_letter_is_listed_with_its_reason_and_re_driven_once(pg_server_url, running_broker):
    topic = TopicSpec(f"pantry-dlq-{uuid.uuid4().hex[:6]}.events.v1", 2, "case id")
    register_topics([topic])
    pantry_def = dataclasses.replace(PANTRY, domain_topic=topic.name, topics=[topic])
    sub = Subscription(topic=topic.name, consumer="larder.count-when-open", handle=count_when_open,
                       event_types=frozenset({ShelfStocked.event_type}))  # fmt: skip
    larder_def = dataclasses.replace(LARDER, subscriptions=[sub])
    LARDER_CLOSED["now"] = True
    async with (
        running_service(pantry_def, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap) as pantry,
        running_service(larder_def, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap) as larder,
    ):

        async def tally() -> int:
            async with larder.runtime.pool.acquire() as conn:
                return await conn.fetchval("SELECT total FROM tallies WHERE shelf_id = 'closed'") or 0

        [stored] = await pantry.runtime.store.append(
            stream_id="shelf-closed", stream_type="shelf", case_id="case-closed", expected_version=None,
            events=[ShelfStocked(shelf_id="closed", item="rice", count=2, unit="kg")], context=CTX,
        )  # fmt: skip
        dlq = f"{topic.name}.dlq"

        async def one_letter() -> bool:
            return len(await ops.list_dead_letters(running_broker.bootstrap, [dlq])) == 1

        await wait_until(one_letter, timeout=40)
        assert dlq in ops.dlq_topics(), "listed by default: the topic table names it"
        [letter] = await ops.list_dead_letters(running_broker.bootstrap, [dlq])
        assert (letter.topic, letter.original_topic, letter.consumer) == (dlq, topic.name, "larder.count-when-open")
        # The kind of error only: an exception's text may quote what the handler held, and operators read this topic.
        assert (letter.error_type, letter.error_message) == ("RuntimeError", "RuntimeError")
        assert (letter.event_type, letter.case_id) == ("test.ShelfStocked", "case-closed")
        assert letter.original_offset == 0 and letter.original_partition is not None
        assert not any("kg" in str(value) for value in dataclasses.astuple(letter)), "never the payload"

        LARDER_CLOSED["now"] = False
        first = await ops.replay_dead_letters(running_broker.bootstrap, dlq, pantry.settings)
        assert [d.offset for d in first.redriven] == [0] and first.already == 0
        await wait_until(lambda: _is(tally(), 2), timeout=40)

        second = await ops.replay_dead_letters(running_broker.bootstrap, dlq, pantry.settings)
        assert (second.redriven, second.already) == ([], 1)
        records = await read_topic(running_broker.bootstrap, topic.name)
        assert Counter(headers_of(r)["event_id"] for r in records) == {str(stored.event_id): 2}
        redriven = headers_of(max(records, key=lambda r: r.offset))
        assert not [k for k in redriven if k.startswith("dlq.")] and redriven["case_id"] == "case-closed"
        assert await tally() == 2
    LARDER_CLOSED["now"] = True


async def _is(value_coro, expected: int) -> bool:
    return await value_coro == expected


async def test_the_dead_letter_reader_reads_every_partition_of_a_topic_created_after_it_connected(running_broker):
    topic = TopicSpec(f"test.reader.{uuid.uuid4().hex[:8]}", 4, "case id")
    producer = AIOKafkaProducer(bootstrap_servers=running_broker.bootstrap)
    await producer.start()
    try:
        await ensure_topics(running_broker.bootstrap, [topic])
        acks = [await producer.send(topic.name, b"{}", key=f"case-{i}".encode()) for i in range(17)]
        partitions = {(await ack).partition for ack in acks}
    finally:
        await producer.stop()
    assert len(partitions) > 1
    records = await ops.read_topics(running_broker.bootstrap, [topic.name, "test.reader.never-created"])
    assert sorted(r.key for r in records) == sorted(f"case-{i}".encode() for i in range(17))
