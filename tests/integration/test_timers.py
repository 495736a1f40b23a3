"""Durable timers' promises, against the real PostgreSQL, with a clock that tests move (no sleeping for time)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from harbour.clock import ManualClock
from harbour.db import create_pool
from harbour.timers import Timer, TimerRunner, cancel, cancel_prefix, due_count, get_timer, schedule

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


async def record_effect(conn: asyncpg.Connection, timer: Timer) -> None:
    """The handler's effect, written in the firing transaction like a real handler's appended event."""
    await conn.execute("INSERT INTO effects (key, payload) VALUES ($1, $2)", timer.key, str(timer.payload))


@pytest.fixture
async def effects(db_pool: asyncpg.Pool) -> Callable[[], Awaitable[list[str]]]:
    async with db_pool.acquire() as conn:
        await conn.execute("CREATE TABLE effects (id bigserial PRIMARY KEY, key text NOT NULL, payload text)")

    async def keys() -> list[str]:
        async with db_pool.acquire() as conn:
            return [r["key"] for r in await conn.fetch("SELECT key FROM effects ORDER BY id")]

    return keys


async def put(pool: asyncpg.Pool, key: str, due_at: datetime, kind: str = "reminder", **payload: object) -> bool:
    async with pool.acquire() as conn, conn.transaction():
        return await schedule(conn, key=key, kind=kind, due_at=due_at, case_id="case-1", payload=payload)


async def eventually(condition: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> None:
    """Wait for a background task (real time, not the domain clock) with a deadline."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_a_timer_fires_once_when_the_clock_reaches_its_due_time(db_pool, effects):
    clock = ManualClock(START)
    runner = TimerRunner(db_pool, clock, {"reminder": record_effect}, poll_seconds=0.01)
    await put(db_pool, "case-1:ai:reminder-14", START + timedelta(days=14), days=14)
    assert await runner.run_due_once() == 0
    clock.advance(timedelta(days=14) - timedelta(seconds=1))
    assert await runner.run_due_once() == 0
    clock.advance(timedelta(seconds=1))
    assert await runner.run_due_once() == 1
    clock.advance(timedelta(days=30))
    assert await runner.run_due_once() == 0
    assert await effects() == ["case-1:ai:reminder-14"]
    async with db_pool.acquire() as conn:
        timer = await get_timer(conn, "case-1:ai:reminder-14")
    assert timer is not None and timer.fired_at == START + timedelta(days=14) and timer.payload == {"days": 14}


async def test_due_timers_fire_in_due_order_and_are_counted_until_fired(db_pool, effects):
    clock = ManualClock(START)
    runner = TimerRunner(db_pool, clock, {"reminder": record_effect})
    for days in (3, 1, 2):
        await put(db_pool, f"t-{days}", START + timedelta(days=days))
    clock.advance(timedelta(days=5))
    async with db_pool.acquire() as conn:
        assert await runner.due_count(conn) == 3
        assert await due_count(conn, START) == 0
    assert await runner.run_due_once() == 3
    assert await effects() == ["t-1", "t-2", "t-3"]
    async with db_pool.acquire() as conn:
        assert await runner.due_count(conn) == 0


async def test_rescheduling_an_unfired_timer_moves_it_and_a_fired_one_is_never_rescheduled(db_pool, effects):
    clock = ManualClock(START)
    runner = TimerRunner(db_pool, clock, {"reminder": record_effect})
    assert await put(db_pool, "k", START + timedelta(days=1), n=1)
    assert await put(db_pool, "k", START + timedelta(days=10), n=2)  # e.g. the document was renewed
    clock.advance(timedelta(days=2))
    assert await runner.run_due_once() == 0
    clock.advance(timedelta(days=8))
    assert await runner.run_due_once() == 1
    assert await put(db_pool, "k", START + timedelta(days=20), n=3) is False
    clock.advance(timedelta(days=30))
    assert await runner.run_due_once() == 0
    async with db_pool.acquire() as conn:
        assert [r["payload"] for r in await conn.fetch("SELECT payload FROM effects")] == ["{'n': 2}"]


async def test_a_timer_survives_a_restart_and_fires_once_in_the_new_process(db_pool, fresh_db, effects):
    clock = ManualClock(START)
    await put(db_pool, "case-1:reflection:expiry", START + timedelta(days=45))
    before = TimerRunner(db_pool, clock, {"reminder": record_effect}, poll_seconds=0.01)
    await before.start()
    await eventually(lambda: leads(before))
    await before.stop()  # the service goes down before the deadline

    clock.advance(timedelta(days=46))  # ... and comes back after it, with new connections
    pool = await create_pool(fresh_db, min_size=1, max_size=4)
    try:
        after = TimerRunner(pool, clock, {"reminder": record_effect}, poll_seconds=0.01)
        await after.start()
        await eventually(lambda: effects_are(effects, ["case-1:reflection:expiry"]))
        await asyncio.sleep(0.1)  # several more polls
        await after.stop()
        assert await after.run_due_once() == 0
    finally:
        await pool.close()
    assert await effects() == ["case-1:reflection:expiry"]


async def leads(runner: TimerRunner) -> bool:
    return runner.is_leader


async def effects_are(effects: Callable[[], Awaitable[list[str]]], expected: list[str]) -> bool:
    return await effects() == expected


async def test_a_timer_whose_handler_was_interrupted_fires_again_and_only_then_counts_as_fired(db_pool, effects):
    clock = ManualClock(START)
    entered = asyncio.Event()

    async def hangs(conn: asyncpg.Connection, timer: Timer) -> None:
        await record_effect(conn, timer)
        entered.set()
        await asyncio.sleep(3600)  # the process dies here

    await put(db_pool, "k", START)
    crashing = asyncio.create_task(TimerRunner(db_pool, clock, {"reminder": hangs}).run_due_once())
    await entered.wait()
    crashing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await crashing
    assert await effects() == []  # the half-done handler's effect went with its transaction
    assert await TimerRunner(db_pool, clock, {"reminder": record_effect}).run_due_once() == 1
    assert await effects() == ["k"]


async def test_two_runners_at_once_fire_each_timer_exactly_once(db_pool, effects):
    clock = ManualClock(START)

    async def slow(conn: asyncpg.Connection, timer: Timer) -> None:
        await asyncio.sleep(0.01)  # widen the window in which both runners look at the same rows
        await record_effect(conn, timer)

    for i in range(30):
        await put(db_pool, f"t-{i:02}", START + timedelta(minutes=i))
    clock.advance(timedelta(hours=1))
    runners = [TimerRunner(db_pool, clock, {"reminder": slow}) for _ in range(3)]
    counts = await asyncio.gather(*(r.run_due_once() for r in runners))
    assert sum(counts) == 30
    assert sorted(await effects()) == [f"t-{i:02}" for i in range(30)]


async def test_only_one_started_runner_leads_and_another_takes_over_when_it_stops(db_pool, effects):
    clock = ManualClock(START)
    first = TimerRunner(db_pool, clock, {"reminder": record_effect}, poll_seconds=0.01)
    second = TimerRunner(db_pool, clock, {"reminder": record_effect}, poll_seconds=0.01)
    await first.start()
    await eventually(lambda: leads(first))
    await second.start()
    try:
        await put(db_pool, "a", START + timedelta(days=1))
        clock.advance(timedelta(days=1))
        await eventually(lambda: effects_are(effects, ["a"]))
        assert first.is_leader and not second.is_leader  # the second waits
        await first.stop()
        await eventually(lambda: leads(second))
        await put(db_pool, "b", START + timedelta(days=2))
        clock.advance(timedelta(days=1))
        await eventually(lambda: effects_are(effects, ["a", "b"]))
    finally:
        await first.stop()
        await second.stop()
    assert not second.is_leader


async def test_cancelled_timers_never_fire(db_pool, effects):
    clock = ManualClock(START)
    runner = TimerRunner(db_pool, clock, {"reminder": record_effect})
    for key in (
        "case-1:ai:doc-1:reminder-14",
        "case-1:ai:doc-1:reminder-3",
        "case-1:ai:doc-1:expiry",
        "case-1:ai:doc-10:expiry",
        "case-1:ai:doc_1:expiry",
        "case-1:hearing:h-1",
    ):
        await put(db_pool, key, START + timedelta(days=1))
    async with db_pool.acquire() as conn:
        assert await cancel(conn, "case-1:hearing:h-1") is True
        assert await cancel(conn, "case-1:hearing:h-1") is False
        assert await cancel(conn, "unknown") is False
        assert await cancel_prefix(conn, "case-1:ai:doc-1:") == 3  # not doc-10, and "_" is not a wildcard
    clock.advance(timedelta(days=100))
    assert await runner.run_due_once() == 2
    assert sorted(await effects()) == ["case-1:ai:doc-10:expiry", "case-1:ai:doc_1:expiry"]
    async with db_pool.acquire() as conn:
        assert await cancel(conn, "case-1:ai:doc-10:expiry") is False  # fired stays fired


async def test_a_cancelled_timer_scheduled_again_fires_at_its_new_time(db_pool, effects):
    clock = ManualClock(START)
    runner = TimerRunner(db_pool, clock, {"reminder": record_effect})
    await put(db_pool, "k", START + timedelta(days=1))
    async with db_pool.acquire() as conn:
        await cancel(conn, "k")
    await put(db_pool, "k", START + timedelta(days=2))
    clock.advance(timedelta(days=1))
    assert await runner.run_due_once() == 0
    clock.advance(timedelta(days=1))
    assert await runner.run_due_once() == 1


async def test_a_failing_handler_does_not_block_another_timer_and_is_retried_after_a_backoff(db_pool, effects):
    clock = ManualClock(START)
    broken = True

    async def flaky(conn: asyncpg.Connection, timer: Timer) -> None:
        await record_effect(conn, timer)  # undone with the failure
        if broken:
            raise RuntimeError("the legal service's read model is not ready")

    runner = TimerRunner(
        db_pool,
        clock,
        {"flaky": flaky, "reminder": record_effect},
        retry_base=timedelta(minutes=1),
        retry_max=timedelta(minutes=10),
    )
    await put(db_pool, "a-flaky", START, kind="flaky")
    await put(db_pool, "b-fine", START)
    await put(db_pool, "c-unknown", START, kind="no-such-kind")
    assert await runner.run_due_once() == 1
    assert await effects() == ["b-fine"]
    async with db_pool.acquire() as conn:
        flaky_row = await get_timer(conn, "a-flaky")
        unknown_row = await get_timer(conn, "c-unknown")
    assert flaky_row is not None and flaky_row.attempts == 1 and flaky_row.fired_at is None
    assert flaky_row.last_error == "RuntimeError: the legal service's read model is not ready"
    assert unknown_row is not None and unknown_row.attempts == 1
    assert "no-such-kind" in (unknown_row.last_error or "")

    assert await runner.run_due_once() == 0  # not before the backoff
    clock.advance(timedelta(minutes=1))
    assert await runner.run_due_once() == 0  # failed again: now two minutes
    clock.advance(timedelta(minutes=1))
    assert await runner.run_due_once() == 0
    broken = False
    clock.advance(timedelta(minutes=1))
    assert await runner.run_due_once() == 1
    assert await effects() == ["b-fine", "a-flaky"]
    async with db_pool.acquire() as conn:
        flaky_row = await get_timer(conn, "a-flaky")
    assert flaky_row is not None and flaky_row.attempts == 2 and flaky_row.fired_at is not None
    assert [runner.backoff(n) for n in (1, 2, 3, 4, 5, 50)] == [timedelta(minutes=m) for m in (1, 2, 4, 8, 10, 10)]


async def test_a_naive_due_time_is_refused(db_pool):
    async with db_pool.acquire() as conn:
        with pytest.raises(ValueError, match="timezone-aware"):
            await schedule(conn, key="k", kind="reminder", due_at=datetime(2026, 1, 1), case_id="c", payload={})


async def test_a_handler_whose_stream_moved_on_is_fired_again_at_once_in_a_new_transaction(db_pool, effects):
    # A reminder whose residence stream was appended by a newer transaction (a renewal decided meanwhile) got a
    # 30 s backoff, so with a test's manual clock it never fired (seen in CI: StreamOrderRetry on reminder-3).
    from harbour.store.eventstore import StreamOrderRetry

    clock = ManualClock(START)
    calls: list[int] = []

    async def crossed_once(conn: asyncpg.Connection, timer: Timer) -> None:
        calls.append(await conn.fetchval("SELECT pg_current_xact_id()::text::bigint"))
        if len(calls) == 1:
            raise StreamOrderRetry("stream residence-case-1 was appended by a newer transaction; retry")
        await record_effect(conn, timer)

    runner = TimerRunner(db_pool, clock, {"reminder": crossed_once})
    await put(db_pool, "case-1:doc:reminder-3", START)
    assert await runner.run_due_once() == 1
    assert len(calls) == 2 and calls[0] != calls[1]  # a new transaction, with a new id
    assert await effects() == ["case-1:doc:reminder-3"]
    async with db_pool.acquire() as conn:
        timer = await get_timer(conn, "case-1:doc:reminder-3")
    assert timer is not None and timer.fired_at is not None and timer.attempts == 0


async def test_a_stream_that_keeps_moving_is_a_recorded_failure_after_a_few_new_transactions(db_pool, effects):
    from harbour.store.eventstore import StreamOrderRetry

    clock = ManualClock(START)
    calls = 0

    async def always_crossed(conn: asyncpg.Connection, timer: Timer) -> None:
        nonlocal calls
        calls += 1
        raise StreamOrderRetry("stream moved on")

    runner = TimerRunner(db_pool, clock, {"reminder": always_crossed})
    await put(db_pool, "case-2:doc:reminder-3", START)
    assert await runner.run_due_once() == 0
    assert calls == 6  # the first try and five new transactions, then the pass moves on
    async with db_pool.acquire() as conn:
        timer = await get_timer(conn, "case-2:doc:reminder-3")
    assert timer is not None and timer.fired_at is None and timer.attempts == 1
    assert timer.last_error is not None and timer.last_error.startswith("StreamOrderRetry")
