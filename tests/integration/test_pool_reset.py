"""A pooled connection goes back to the pool without a reset statement only when nothing can be left on it.

``harbour.db.HarbourConnection`` skips asyncpg's reset (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
ALL``) for a connection that ran only statements that leave no session state. These tests lend one connection
(a pool of one) to a first borrower who leaves something behind, then to a second who must not find it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from harbour.db import REQUEST_DEADLINE, RequestDeadline, create_pool, database_url, leaves_session_state

pytestmark = pytest.mark.integration


@pytest.fixture
async def one_connection(pg_server_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url(pg_server_url, "postgres"), min_size=1, max_size=1)
    async with pool.acquire() as conn:
        await conn.execute("SELECT 1")  # a new connection is reset once: start from a known one
    yield pool
    await pool.close()


async def _statements_on_release(pool: asyncpg.Pool, *statements: str) -> int:
    """How many statements the pool itself ran on the connection when it took it back."""
    async with pool.acquire() as conn:
        raw = conn._con
        for statement in statements:
            await conn.execute(statement)
        before = raw._protocol.queries_count
    return int(raw._protocol.queries_count - before)


async def test_a_connection_that_ran_only_finished_transactions_goes_back_without_a_reset(one_connection):
    assert await _statements_on_release(one_connection, "SELECT 1") == 0
    assert await _statements_on_release(one_connection, "BEGIN", "SET LOCAL statement_timeout = 50",
                                        "SELECT pg_advisory_xact_lock(7)", "COMMIT") == 0  # fmt: skip


async def test_a_session_setting_does_not_reach_the_next_borrower(one_connection):
    assert await _statements_on_release(one_connection, "SET statement_timeout = 1234") == 1
    async with one_connection.acquire() as conn:
        assert await conn.fetchval("SHOW statement_timeout") == "0"


async def test_a_setting_made_by_set_config_does_not_reach_the_next_borrower(one_connection):
    async with one_connection.acquire() as conn:
        await conn.fetchval("SELECT set_config('application_name', 'left-behind', false)")
    async with one_connection.acquire() as conn:
        assert await conn.fetchval("SHOW application_name") != "left-behind"


async def test_a_session_advisory_lock_does_not_outlive_its_borrower(one_connection):
    async with one_connection.acquire() as conn:
        assert await conn.fetchval("SELECT pg_try_advisory_lock(4242)")
    async with one_connection.acquire() as conn:
        held = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
    assert held == 0


@pytest.mark.filterwarnings("ignore:.*active notification listener")
async def test_a_listen_does_not_outlive_its_borrower(one_connection):
    async with one_connection.acquire() as conn:
        await conn.add_listener("left_behind", lambda *_: None)
    async with one_connection.acquire() as conn:
        assert await conn.fetch("SELECT pg_listening_channels()") == []


async def test_a_transaction_left_open_is_rolled_back_before_the_next_borrower(one_connection):
    async with one_connection.acquire() as conn:
        await conn.execute("CREATE TEMP TABLE IF NOT EXISTS left_open (n int)")
        await conn.execute("BEGIN")
        await conn.execute("INSERT INTO left_open VALUES (1)")
    async with one_connection.acquire() as conn:
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT count(*) FROM left_open") == 0


async def test_a_request_deadline_does_not_reach_the_borrower_after_the_request(one_connection):
    token = REQUEST_DEADLINE.set(RequestDeadline(at=time.monotonic() + 5.0))
    try:
        async with one_connection.acquire() as conn:
            assert await conn.fetchval("SHOW statement_timeout") != "0"
    finally:
        REQUEST_DEADLINE.reset(token)
    async with one_connection.acquire() as conn:
        assert await conn.fetchval("SHOW statement_timeout") == "0"


@pytest.mark.parametrize(
    ("statement", "leaves_state"),
    [
        ("SELECT 1", False),
        ("UPDATE referral_status\n   SET version = $2 WHERE referral_id = $1", False),
        ("INSERT INTO t VALUES (1) ON CONFLICT (a) DO UPDATE SET b = 1", False),
        ("SET LOCAL synchronous_commit = off", False),
        ("SELECT pg_advisory_xact_lock(hashtext($1))", False),
        ("SET statement_timeout = 998", True),
        ("set search_path = x", True),
        ("-- why\nSET lock_timeout = '5ms'", True),
        ("SELECT 1; RESET ALL", True),
        ("SELECT set_config('a', 'b', false)", True),
        ("SELECT pg_try_advisory_lock($1, $2)", True),
        ("SELECT pg_advisory_unlock($1, $2)", True),
        ('LISTEN "harbour_events"', True),
        ("DECLARE c CURSOR WITH HOLD FOR SELECT 1", True),
    ],
)
def test_each_statement_that_may_leave_session_state_is_recognised(statement, leaves_state):
    assert leaves_session_state(statement) is leaves_state
