"""The signals the lag alerts read tell the truth when nothing moves (issue 15): a consumer stuck in a handler shows
its lag growing, measured from the broker on a clock (harbour.kafka.lag); a relay that no replica leads shows its
events waiting and that no one leads (harbour_relay_leader), at every replica's scrape.

Real broker, real PostgreSQL; the counts are exact because each test reads a topic or a database of its own.
"""

from __future__ import annotations

import asyncio
import uuid
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from harbour.db import database_url
from harbour.kafka.consumer import HandlerContext, RawMessage, Subscription
from harbour.kafka.lag import group_lag
from harbour.kafka.topics import TopicSpec, register_topics
from harbour.service import ServiceDefinition
from harbour.store import Actor, CommandContext
from tests.support.harness import RunningService, fast_settings, running_service
from tests.support.pantry import ShelfStocked
from tests.support.pantry_service import PANTRY
from tests.support.waiting import wait_until

CTX = CommandContext(actor=Actor("centre-payoke", "caseworker", "t"))


async def scrape(svc: RunningService, metric: str, service: str, **labels: str) -> float | None:
    """The value of ``metric`` for ``service`` on the service's own /metrics, as Prometheus would read it."""
    text = (await svc.client.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == metric and sample.labels == {"service": service, **labels}:
                return sample.value
    return None


def stuck_consumer(topic: str, release: asyncio.Event, handled: list[int]) -> ServiceDefinition:
    """A service whose one consumer blocks in its handler until ``release`` is set."""

    async def handle(ctx: HandlerContext, message: RawMessage) -> None:
        await release.wait()
        handled.append(message.offset)

    def message_id(message: RawMessage) -> UUID:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"{message.topic}/{message.partition}/{message.offset}")

    stuck = Subscription(topic=topic, consumer="lagwatch.stuck", handle=handle, raw=True, message_id=message_id)
    return ServiceDefinition(name="lagwatch", title="Lag watch (test)", description="A consumer that gets stuck.",
                             port=0, domain_topic=None, subscriptions=[stuck])  # fmt: skip


async def _equals(value: object, expected: object) -> bool:
    return await value == expected  # type: ignore[misc]


async def test_a_consumer_stuck_in_its_handler_shows_its_lag_growing_and_zero_once_it_caught_up(
    pg_server_url, running_broker
):
    topic = f"lagwatch-{uuid.uuid4().hex[:8]}.events.v1"
    register_topics([TopicSpec(topic, 2, "a test key", description="test-only: the stuck consumer's topic")])
    release, handled = asyncio.Event(), []
    definition = stuck_consumer(topic, release, handled)
    async with running_service(definition, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               settings=fast_settings(consumer_lag_seconds=0.2)) as svc:  # fmt: skip
        producer = AIOKafkaProducer(bootstrap_servers=running_broker.bootstrap)
        await producer.start()
        try:

            async def send(n: int) -> None:
                for i in range(n):  # one record a batch: the broker's end offsets are exact then
                    await producer.send_and_wait(topic, f"message {i}".encode(), key=f"k{i}".encode())

            def lag() -> object:
                return scrape(svc, "harbour_consumer_lag_messages", "lagwatch", consumer="lagwatch.stuck")

            await send(5)
            # The handler holds the first message: nothing is committed, nothing more is handled, and the lag is
            # all five, measured by the watch's clock alone.
            await wait_until(lambda: _equals(lag(), 5.0), timeout=30)
            await send(3)
            await wait_until(lambda: _equals(lag(), 8.0), timeout=30)  # still stuck: the lag grew with the topic
            assert handled == []
            release.set()
            await wait_until(lambda: _equals(lag(), 0.0), timeout=30)  # every one done and committed
            assert len(handled) == 8
        finally:
            await producer.stop()


def test_a_groups_lag_counts_a_partition_it_never_committed_to_from_the_start_of_its_log():
    ends = {("t", 0): 10, ("t", 1): 7, ("t", 2): 4}
    starts = {("t", 0): 0, ("t", 1): 2, ("t", 2): 0}
    # Partition 0 done up to 6, partition 1 never committed (-1, as the broker answers), partition 2 not asked.
    assert group_lag(ends, starts, {("t", 0): 6, ("t", 1): -1}) == 4 + 5 + 4  # type: ignore[arg-type]
    assert group_lag(ends, starts, {("t", 0): 12, ("t", 1): 7, ("t", 2): 4}) == 0  # type: ignore[arg-type]


async def test_a_relay_no_replica_leads_shows_its_waiting_events_and_no_leader_at_every_scrape(
    pg_server_url, running_broker
):
    name = f"harbour_test_pantry_lead_{uuid.uuid4().hex[:8]}"
    async with running_service(PANTRY, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               background=False, keep_database=True, database=name):  # fmt: skip
        pass  # the database, migrated
    # The leader's lock held elsewhere (a leader that hangs with its connection open): the replica waits.
    holder = await asyncpg.connect(database_url(pg_server_url, name))
    try:
        assert await holder.fetchval("SELECT pg_try_advisory_lock(hashtext('relay:pantry'))")
        async with running_service(PANTRY, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                                   database=name) as svc:  # fmt: skip
            for i in range(4):
                await svc.runtime.store.append(stream_id=f"shelf-lead-{i}", stream_type="shelf", case_id=f"case-{i}",
                                               expected_version=None, context=CTX,
                                               events=[ShelfStocked(shelf_id=f"lead-{i}", item="rice", count=1,
                                                                    unit="kg")])  # fmt: skip
            # Readable once every older transaction on the server has ended (see EventStore.head): then all four.
            await wait_until(lambda: _equals(scrape(svc, "harbour_relay_lag_events", "pantry"), 4.0), timeout=30)
            assert await scrape(svc, "harbour_relay_leader", "pantry") == 0.0  # no leader, yet the lag says so
            assert svc.runtime.relay.published == 0
            await holder.close()  # the hung leader goes: its lock with it
            await wait_until(lambda: _equals(scrape(svc, "harbour_relay_leader", "pantry"), 1.0), timeout=30)
            await wait_until(lambda: _equals(scrape(svc, "harbour_relay_lag_events", "pantry"), 0.0), timeout=30)
            assert svc.runtime.relay.published == 4
    finally:
        if not holder.is_closed():
            await holder.close()
