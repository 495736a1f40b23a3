"""The event store's promises, against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from pathlib import Path

import asyncpg
import pytest

from harbour.db import database_url, drop_database
from harbour.errors import ConcurrencyError
from harbour.store import Actor, CommandContext, EventStore, Position
from tests.support.pantry import ShelfEmptied, ShelfStocked

CTX = CommandContext(actor=Actor("centre-payoke", "caseworker", "u1"))
FIXTURES = Path(__file__).parent.parent / "fixtures"


def stocked(shelf: str, n: int = 1) -> ShelfStocked:
    return ShelfStocked(shelf_id=shelf, item="rice", count=n, unit="kg")


async def test_appended_events_are_read_back_in_stream_order_with_their_envelope(db_pool):
    store = EventStore(db_pool)
    ctx = CommandContext(
        actor=Actor("centre-payoke", "caseworker", "u1"), traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    )
    await store.append(
        stream_id="shelf-1",
        stream_type="shelf",
        case_id="case-1",
        expected_version=0,
        events=[stocked("1"), stocked("1", 2)],
        context=ctx,
    )
    await store.append(
        stream_id="shelf-1",
        stream_type="shelf",
        case_id="case-1",
        expected_version=2,
        events=[ShelfEmptied(shelf_id="1")],
        context=ctx,
    )
    events = await store.read_stream("shelf-1")
    assert [e.stream_version for e in events] == [1, 2, 3]
    assert [e.event_type for e in events] == ["test.ShelfStocked", "test.ShelfStocked", "test.ShelfEmptied"]
    first = events[0]
    assert first.actor == Actor("centre-payoke", "caseworker", "u1")
    assert first.correlation_id == ctx.correlation_id
    assert first.traceparent == ctx.traceparent
    assert first.case_id == "case-1" and first.jurisdiction == "BE"
    assert first.event == stocked("1")


async def test_appending_at_a_stale_version_is_a_conflict_and_writes_nothing(db_pool):
    store = EventStore(db_pool)
    await store.append(
        stream_id="shelf-2", stream_type="shelf", case_id="c", expected_version=0, events=[stocked("2")], context=CTX
    )
    with pytest.raises(ConcurrencyError) as raised:
        await store.append(
            stream_id="shelf-2",
            stream_type="shelf",
            case_id="c",
            expected_version=0,
            events=[stocked("2"), stocked("2")],
            context=CTX,
        )
    assert raised.value.actual == 1
    assert len(await store.read_stream("shelf-2")) == 1


async def test_two_writers_racing_on_one_stream_never_both_win(db_pool):
    store = EventStore(db_pool)

    async def write() -> bool:
        try:
            await store.append(
                stream_id="shelf-3",
                stream_type="shelf",
                case_id="c",
                expected_version=0,
                events=[stocked("3")],
                context=CTX,
            )
            return True
        except ConcurrencyError:
            return False

    results = await asyncio.gather(*(write() for _ in range(10)))
    assert results.count(True) == 1
    assert len(await store.read_stream("shelf-3")) == 1


async def test_a_follower_sees_every_committed_event_once_and_in_stream_order_under_concurrent_writers(db_pool):
    """Eight writers append for several seconds, with random transaction lengths, while a follower reads.

    The follower must see each committed event exactly once, and within a stream never version N+1 before N.
    """
    store = EventStore(db_pool)
    streams = [f"race-{i}" for i in range(12)]
    committed: set[uuid.UUID] = set()
    stop_at = time.monotonic() + 4.0
    writers_done = asyncio.Event()

    async def writer(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < stop_at:
            stream = rng.choice(streams)
            async with db_pool.acquire() as conn, conn.transaction():
                version = await conn.fetchval(
                    "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1", stream
                )
                try:
                    recorded = await store.append(
                        stream_id=stream,
                        stream_type="race",
                        case_id=stream,
                        expected_version=version,
                        events=[stocked(stream) for _ in range(rng.randint(1, 3))],
                        context=CTX,
                        conn=conn,
                    )
                except ConcurrencyError:
                    continue
                # Hold the transaction open a while so that later sequence values commit first.
                await asyncio.sleep(rng.random() * 0.01)
            committed.update(e.event_id for e in recorded)

    seen: list = []

    async def follower() -> None:
        position = Position()
        # After the writers stop, keep following for a while: a transaction elsewhere on the server can hold
        # back what is readable. A skipped event would never show up later, since reads go forward only.
        deadline = None
        while True:
            batch = await store.read_all(position, limit=200)
            seen.extend(batch)
            if batch:
                position = Position(batch[-1].tx_id, batch[-1].global_position)
            elif writers_done.is_set():
                deadline = deadline or time.monotonic() + 60.0
                if len(seen) >= len(committed) or time.monotonic() > deadline:
                    return
            await asyncio.sleep(0.002)

    follow = asyncio.create_task(follower())
    await asyncio.gather(*(writer(i) for i in range(8)))
    writers_done.set()
    await follow

    ids = [e.event_id for e in seen]
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    assert set(ids) == committed, "the follower missed a committed event"
    last_version: dict[str, int] = {}
    for event in seen:
        assert event.stream_version == last_version.get(event.stream_id, 0) + 1, "stream order broken"
        last_version[event.stream_id] = event.stream_version
    assert len(committed) > 200


async def test_an_old_schema_version_is_upcast_when_read(db_pool):
    """A v1 ShelfStocked stored before ``unit`` existed reads as v2 with the default unit."""
    store = EventStore(db_pool)
    fixture = json.loads((FIXTURES / "shelf_stocked_v1.json").read_text())
    async with db_pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_type, schema_version,
                                   payload, case_id, occurred_at)
               VALUES ($1, 'shelf-old', 'shelf', 1, $2, $3, $4::jsonb, 'c', now())""",
            uuid.uuid4(),
            fixture["event_type"],
            fixture["schema_version"],
            json.dumps(fixture["payload"]),
        )
    [event] = await store.read_stream("shelf-old")
    assert event.schema_version == 1
    assert event.event == ShelfStocked(shelf_id="old", item="beans", count=4, unit="piece")


async def test_a_transaction_held_open_in_another_database_does_not_hold_back_readers_but_one_in_this_database_does(
    db_pool, pg_server_url
):
    """Readers stop below every transaction that may still write this store (harbour_read_bound, migration 0014).
    One held open in another database of the server never writes here: the event appended after it is read at
    once. One held open here may commit an event yet: the later event waits for it, and is read once it ended."""
    store = EventStore(db_pool)
    other_name = f"harbour_test_other_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(database_url(pg_server_url, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{other_name}"')
    finally:
        await admin.close()
    other = await asyncpg.connect(database_url(pg_server_url, other_name))
    try:
        async with other.transaction():
            await other.fetchval("SELECT pg_current_xact_id()")  # an id, as any writing transaction has
            [elsewhere] = await store.append(stream_id="shelf-else", stream_type="shelf", case_id="case-else",
                                             expected_version=0, events=[stocked("else")], context=CTX)  # fmt: skip
            assert [e.event_id for e in await store.read_all(Position())] == [elsewhere.event_id]
    finally:
        await other.close()
        await drop_database(pg_server_url, other_name)

    async with db_pool.acquire() as here, here.transaction():
        await here.fetchval("SELECT pg_current_xact_id()")
        [held] = await store.append(stream_id="shelf-here", stream_type="shelf", case_id="case-here",
                                    expected_version=0, events=[stocked("here")], context=CTX)  # fmt: skip
        after = Position(elsewhere.tx_id, elsewhere.global_position)
        assert await store.read_all(after) == [], "read past a transaction of this database still running"
    assert [e.event_id for e in await store.read_all(after)] == [held.event_id]
