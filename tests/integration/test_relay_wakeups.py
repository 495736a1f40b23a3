"""Appends notify only relays that sleep, and a relay never sleeps through an event that did not notify it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

import harbour.kafka.relay as relay_module
from harbour.kafka.sleep_slot import LOCK_CLASS, SLOTS, SleepSlot
from harbour.store import Actor, CommandContext, EventStore
from tests.support.harness import fast_settings, running_service
from tests.support.pantry import ShelfStocked
from tests.support.pantry_service import PANTRY
from tests.support.waiting import wait_until

CTX = CommandContext(actor=Actor("centre-payoke", "caseworker", "t"))
Hook = Callable[[], Awaitable[None]]
PENDING: set[asyncio.Task[None]] = set()  # the staged transactions, kept from the garbage collector


async def stock(store: EventStore, shelf: str, conn: Any = None) -> None:
    await store.append(stream_id=f"shelf-{shelf}", stream_type="shelf", case_id=f"case-{shelf}", expected_version=None,
                       events=[ShelfStocked(shelf_id=shelf, item="rice", count=1, unit="kg")], context=CTX,
                       conn=conn)  # fmt: skip


async def test_an_append_notifies_only_while_a_relay_sleeps_in_one_of_its_slots(db_pool, fresh_db):
    store = EventStore(db_pool)
    listener, sleeper = await asyncpg.connect(fresh_db), await asyncpg.connect(fresh_db)
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener("harbour_events", lambda *args: heard.put_nowait(args[2]))
    try:
        for slot in SLOTS:
            await stock(store, "awake")  # every slot free: every relay is awake and will read again anyway
            assert await sleeper.fetchval("SELECT pg_try_advisory_lock($1, $2)", LOCK_CLASS, slot)
            await stock(store, "asleep")
            await asyncio.wait_for(heard.get(), 5)
            # Notifications arrive in commit order: had the first append notified, it would be heard first.
            assert heard.empty(), f"an append notified with slot {slot} free"
            await sleeper.execute("SELECT pg_advisory_unlock($1, $2)", LOCK_CLASS, slot)
    finally:
        await listener.close()
        await sleeper.close()


class HookedSlot(SleepSlot):
    """The relay's real slot, with a step run just before the relay tries to lie down (to stage a race)."""

    hooks: list[Hook] = []

    async def lie_down(self) -> bool:
        while HookedSlot.hooks:
            await HookedSlot.hooks.pop(0)()
        return await super().lie_down()


async def asleep(conn: asyncpg.Connection, slot: int = 1) -> bool:
    return bool(await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = $2
                          AND objsubid = 2 AND mode = 'ExclusiveLock' AND granted)""", LOCK_CLASS, slot))  # fmt: skip


async def _is(value: bool) -> bool:
    return value


async def staged_race(pg_server_url: str, bootstrap: str, monkeypatch: Any, hook: Callable[[Any], Hook]) -> None:
    """A relay that may only publish through a wake-up (60 s polls) meets ``hook`` as it next lies down."""
    monkeypatch.setattr(relay_module, "SleepSlot", HookedSlot)
    async with running_service(PANTRY, pg_server_url=pg_server_url, bootstrap=bootstrap,
                               settings=fast_settings(relay_poll_seconds=60.0)) as pantry:  # fmt: skip
        relay, store = pantry.runtime.relay, pantry.runtime.store
        async with store.pool.acquire() as conn:
            await wait_until(lambda: asleep(conn), timeout=20)
        HookedSlot.hooks.append(hook(store))
        relay.wake()  # up again, reads nothing, goes to lie down: the hook runs then
        await wait_until(lambda: _is(relay.published == 1), timeout=5)


async def test_an_append_that_commits_just_before_the_relay_lies_down_is_published_at_once(
    pg_server_url, running_broker, monkeypatch
):
    def commit_one(store: EventStore) -> Hook:
        async def hook() -> None:
            await stock(store, "just-before")  # the relay is awake: this append does not notify

        return hook

    await staged_race(pg_server_url, running_broker.bootstrap, monkeypatch, commit_one)


async def test_an_append_still_committing_when_the_relay_wants_to_sleep_keeps_it_awake_until_it_commits(
    pg_server_url, running_broker, monkeypatch
):
    def open_one(store: EventStore) -> Hook:
        async def hook() -> None:
            async def commit_later() -> None:
                async with store.transaction() as conn:
                    await stock(store, "in-flight", conn)
                    await asyncio.sleep(0.5)  # the relay tries to lie down meanwhile, and must not

            PENDING.add(asyncio.create_task(commit_later()))
            await asyncio.sleep(0.1)  # the append has taken its shared locks

        return hook

    await staged_race(pg_server_url, running_broker.bootstrap, monkeypatch, open_one)


async def test_an_append_notifies_a_relay_sleeping_in_a_slot_it_registered_and_not_before(db_pool, fresh_db):
    store = EventStore(db_pool)
    listener, sleeper = await asyncpg.connect(fresh_db), await asyncpg.connect(fresh_db)
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener("harbour_events", lambda *args: heard.put_nowait(args[2]))
    third = SleepSlot(sleeper, 3)  # a third relay of the database, beside the domain and the milestone relay
    try:
        # Unregistered, its slot is none of the append's business: the relay would sleep through the append.
        assert await third.lie_down()
        await stock(store, "unregistered")
        await third.get_up()
        await third.register("relay:third")
        await stock(store, "awake")  # registered, awake: still no notification (group commit)
        assert await third.lie_down()
        await stock(store, "asleep")
        await asyncio.wait_for(heard.get(), 5)
        # In commit order: had either earlier append notified, the queue would not be empty now.
        assert heard.empty(), "an append notified while the third relay was unregistered or awake"
    finally:
        await listener.close()
        await sleeper.close()


async def test_a_relay_registering_its_slot_waits_for_the_appends_that_did_not_see_it(db_pool, fresh_db):
    store = EventStore(db_pool)
    registrant = await asyncpg.connect(fresh_db)
    try:
        async with store.transaction() as conn:
            await stock(store, "in-flight", conn)  # read the slots without slot 4; not committed yet
            registering = asyncio.create_task(SleepSlot(registrant, 4).register("relay:fourth"))
            await asyncio.sleep(0.3)
            # Done now, the relay could lie down and read the store before this append commits, then sleep
            # through it: the append took no lock on slot 4 and will not notify.
            assert not registering.done(), "the slot was registered while an append that did not see it was open"
        await asyncio.wait_for(registering, 5)
        assert await registrant.fetchval("SELECT count(*) FROM harbour_sleep_slots WHERE slot = 4") == 1
    finally:
        await registrant.close()


class FifthSlot(SleepSlot):
    """The relay's real slot, moved to a number no migration registered."""

    def __init__(self, conn: Any, slot: int) -> None:
        super().__init__(conn, 5)


async def test_a_relay_with_a_slot_of_its_own_is_woken_by_an_append(pg_server_url, running_broker, monkeypatch):
    monkeypatch.setattr(relay_module, "SleepSlot", FifthSlot)
    async with running_service(PANTRY, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               settings=fast_settings(relay_poll_seconds=60.0)) as pantry:  # fmt: skip
        relay, store = pantry.runtime.relay, pantry.runtime.store
        async with store.pool.acquire() as conn:
            await wait_until(lambda: asleep(conn, slot=5), timeout=20)
        await stock(store, "wake-five")
        # Polls are 60 s apart: published within seconds means the append woke it.
        await wait_until(lambda: _is(relay.published == 1), timeout=5)
