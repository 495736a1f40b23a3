"""``harbour replay``: stored events published again from a position; consumers apply nothing twice."""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter

import pytest

from harbour.kafka.topics import TopicSpec, register_topics
from harbour.store import Actor, CommandContext, Position
from harbour_tools import ops
from tests.support.harness import running_service
from tests.support.kafka import headers_of, read_topic
from tests.support.pantry import ShelfStocked
from tests.support.pantry_service import LARDER, PANTRY
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

CTX = CommandContext(actor=Actor("centre-payoke", "caseworker", "t"))


def pantry_and_larder_on(topic: TopicSpec):
    """The pantry and the larder on a topic of their own: nothing another test left on the shared one counts."""
    register_topics([topic])
    pantry = dataclasses.replace(PANTRY, domain_topic=topic.name, topics=[topic])
    [sub] = LARDER.subscriptions
    larder = dataclasses.replace(LARDER, subscriptions=[dataclasses.replace(sub, topic=topic.name)])
    return pantry, larder


async def stock(runtime, shelf: str, n: int) -> None:
    for i in range(n):
        await runtime.store.append(stream_id=f"shelf-{shelf}", stream_type="shelf", case_id=f"case-{shelf}",
                                   expected_version=None, events=[ShelfStocked(shelf_id=shelf, item="rice", count=1,
                                   unit=f"u{i}")], context=CTX)  # fmt: skip


async def test_a_replay_from_a_position_publishes_those_events_again_and_the_consumer_applies_none_twice(
    pg_server_url, running_broker
):
    topic = TopicSpec(f"pantry-replay-{uuid.uuid4().hex[:6]}.events.v1", 2, "case id")
    pantry_def, larder_def = pantry_and_larder_on(topic)
    shelf = "replayed"
    async with (
        running_service(pantry_def, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap) as pantry,
        running_service(larder_def, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap) as larder,
    ):

        async def counted(expected: int) -> bool:
            async with larder.runtime.pool.acquire() as conn:
                tally = await conn.fetchval("SELECT total FROM tallies WHERE shelf_id = $1", shelf) or 0
                appended = await conn.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", f"tally-{shelf}")
            return (tally, appended) == (expected, expected)

        await stock(pantry.runtime, shelf, 5)
        await wait_until(lambda: counted(5), timeout=40)
        events = await pantry.runtime.store.read_all(Position())
        checkpoint = await pantry.runtime.relay.checkpoint()

        seen: list[tuple[int, int]] = []
        target = ops.Target(pantry_def, pantry.runtime.store, running_broker.bootstrap, pantry.settings)
        replayed = await ops.replay(target, events[2].global_position, progress=lambda d, t: seen.append((d, t)))

        assert replayed == 3 and seen[-1] == (3, 3)
        assert await pantry.runtime.relay.checkpoint() == checkpoint, "the relay's checkpoint did not move"
        on_topic = Counter(headers_of(r)["event_id"] for r in await read_topic(running_broker.bootstrap, topic.name))
        assert [on_topic[str(e.event_id)] for e in events] == [1, 1, 2, 2, 2]
        # One case, one partition: once the larder counted a new event, it has seen the replayed ones before it.
        await stock(pantry.runtime, shelf, 1)
        await wait_until(lambda: counted(6), timeout=40)
        assert await counted(6)
