"""A relay with a route that cannot address an event yet (the milestone relay waiting for a case's facts)."""

from __future__ import annotations

import asyncio
import json
import uuid

from harbour.kafka.relay import OutboxRelay, OutgoingMessage, RouteNotReady
from harbour.kafka.topics import TopicSpec, ensure_topics
from harbour.store import Actor, CommandContext, EventStore, Position
from tests.support.harness import fast_settings
from tests.support.kafka import read_topic
from tests.support.pantry import ShelfStocked
from tests.support.waiting import wait_until

CTX = CommandContext(actor=Actor("centre-payoke", "caseworker", "t"))


async def stocked_relay(store: EventStore, fresh_db: str, bootstrap: str, ready: asyncio.Event) -> OutboxRelay:
    """Six events of one case, and a relay whose route cannot address the fourth until ``ready`` is set."""
    topic = TopicSpec(f"test.routed.{uuid.uuid4().hex[:8]}", 1, "case id")
    await ensure_topics(bootstrap, [topic])

    async def route(conn, event):
        if event.payload["shelf_id"] == "blocked" and not ready.is_set():
            raise RouteNotReady("the case's facts have not arrived")
        return [OutgoingMessage(topic.name, event.case_id.encode(), event.value(), event.headers())]

    for shelf in ["a", "b", "c", "blocked", "d", "e"]:
        stocked = ShelfStocked(shelf_id=shelf, item="rice", count=1, unit="kg")
        await store.append(stream_id=f"shelf-{shelf}", stream_type="shelf", case_id="case-1", expected_version=0,
                           events=[stocked], context=CTX)  # fmt: skip
    await wait_until(lambda: _readable(store, 6))
    return OutboxRelay(service="routed", store=store, dsn=fresh_db, bootstrap=bootstrap, settings=fast_settings(),
                       domain_topic=None, topics=[topic], routes=[route])  # fmt: skip


async def published_shelves(bootstrap: str, relay: OutboxRelay) -> list[str]:
    return [json.loads(r.value)["shelf_id"] for r in await read_topic(bootstrap, relay.topics[0].name)]


async def test_events_before_one_a_route_cannot_address_yet_go_at_once_and_the_rest_follow_in_order(
    db_pool, fresh_db, running_broker
):
    ready = asyncio.Event()
    relay = await stocked_relay(EventStore(db_pool), fresh_db, running_broker.bootstrap, ready)
    relay.start()
    try:
        await wait_until(lambda: _is(relay.published == 3), timeout=10)
        await asyncio.sleep(0.5)
        assert relay.published == 3, "published past the event its route could not address"
        ready.set()
        await wait_until(lambda: _is(relay.published == 6), timeout=10)
    finally:
        await relay.stop()
    assert await published_shelves(running_broker.bootstrap, relay) == ["a", "b", "c", "blocked", "d", "e"]


async def test_draining_waits_for_a_route_that_is_not_ready_yet(db_pool, fresh_db, running_broker):
    ready = asyncio.Event()
    relay = await stocked_relay(EventStore(db_pool), fresh_db, running_broker.bootstrap, ready)
    asyncio.get_running_loop().call_later(0.3, ready.set)
    try:
        await relay.drain(timeout=10)
    finally:
        await relay.stop()
    assert await published_shelves(running_broker.bootstrap, relay) == ["a", "b", "c", "blocked", "d", "e"]


async def _readable(store: EventStore, count: int) -> bool:
    return len(await store.read_all(Position())) == count


async def _is(value: bool) -> bool:
    return value
