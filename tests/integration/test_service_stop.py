"""A stopping service ends: SIGTERM, a test's teardown or a rolling deploy must not wait on a part that never answers.

asyncpg's ``Pool.close`` waits without limit for every acquired connection; a request or handler stuck on a stalled
database holds one. Before the bounded stop, such a service never finished stopping (a test run hung on one for
36 minutes).
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from harbour.db import database_url, drop_database
from tests.support.harness import fast_settings, running_service
from tests.support.pantry_service import PANTRY

# Far above the grace below: reaching it means the stop waited on the held connection, which is the failure.
HANG = 60.0


async def test_a_service_stops_although_a_connection_is_never_released_and_its_transaction_rolls_back(
    pg_server_url, running_broker
):
    database = f"harbour_test_pantry_stop_{uuid.uuid4().hex[:8]}"
    settings = fast_settings(stop_grace_seconds=1.0)
    async with asyncio.timeout(HANG):
        async with running_service(PANTRY, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                                   database=database, keep_database=True, settings=settings) as pantry:  # fmt: skip
            async with pantry.runtime.pool.acquire() as conn:
                await conn.execute("CREATE TABLE stuck_rows (id text PRIMARY KEY)")
            held = await pantry.runtime.pool.acquire()  # never released, as by a handler stuck mid-transaction
            transaction = held.transaction()
            await transaction.start()
            await held.execute("INSERT INTO stuck_rows VALUES ('stuck')")
    # Out of the context: the stop returned, and the held connection was cut (no session of the service is left on
    # its database), so what it had not committed is gone, not waiting for a commit.
    conn = await asyncpg.connect(database_url(pg_server_url, database))
    try:
        others = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
        for _ in range(50):  # the server ends a cut session's backend a moment after its socket closes
            if await conn.fetchval(others, database) == 0:
                break
            await asyncio.sleep(0.1)
        assert await conn.fetchval(others, database) == 0
        assert await conn.fetchval("SELECT count(*) FROM stuck_rows") == 0
    finally:
        await conn.close()
        await drop_database(pg_server_url, database)


async def test_a_part_that_never_stops_is_abandoned_after_the_grace_and_the_rest_still_stops(
    pg_server_url, running_broker
):
    settings = fast_settings(stop_grace_seconds=1.0)
    never = asyncio.Event()

    async def stuck_stop() -> None:
        await never.wait()

    async with asyncio.timeout(HANG):
        async with running_service(PANTRY, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                                   settings=settings) as pantry:  # fmt: skip
            runtime = pantry.runtime
            runtime.consumer_lag.stop = stuck_stop  # type: ignore[method-assign]
    # The parts after the stuck one were still stopped: the relay's task is done and the pool closed.
    assert runtime.relay._task is None or runtime.relay._task.done()
    assert runtime.pool.is_closing()
