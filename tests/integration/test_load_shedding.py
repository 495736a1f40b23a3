"""Overload is shed, not queued: beyond its limits a service answers at once 503 (saturated) or 429 (this caller
is over its share) with Retry-After and a problem document; what it admitted succeeds; nothing is half-written.

Requests are held in flight deterministically, not by timing: a SHARE lock on the service's events table makes
every admitted referral wait inside its transaction (after it sealed the person's data, before it appended), so
the test knows exactly how many are in progress by counting lock waiters in pg_stat_activity.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx

from harbour.auth import is_known_org
from harbour.http.shedding import LoadShedding
from harbour.service import create_app
from services import registry
from services.intake.app import DEFINITION as INTAKE
from tests.support.harness import RunningService, fast_settings, running_service
from tests.support.intake_flow import IntakeClient
from tests.support.waiting import wait_until

POLICE_A, POLICE_B, POLICE_C = "police-federal", "police-zone-antwerp", "police-zone-gent"


def _referral(intake: RunningService, org: str) -> asyncio.Task[httpx.Response]:
    body = IntakeClient(intake).referral_body()
    return asyncio.create_task(intake.client.post("/referrals", json=body, headers=intake.token(org, "officer")))


async def _table_rows(db_url: str) -> dict[str, int]:
    """Rows in every table of the service's database: what a half-done command would have left behind."""
    conn = await asyncpg.connect(db_url)
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {t["tablename"]: await conn.fetchval(f'SELECT count(*) FROM "{t["tablename"]}"') for t in tables}
    finally:
        await conn.close()


@asynccontextmanager
async def appends_held(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    """Every append to the events table waits until the block ends (a SHARE lock: reads go on, inserts wait)."""
    conn = await asyncpg.connect(db_url)
    try:
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("LOCK TABLE events IN SHARE MODE")
        try:
            yield conn
        finally:
            await transaction.rollback()
    finally:
        await conn.close()


async def _waiting_appends(conn: asyncpg.Connection) -> int:
    # Inside a transaction, pg_stat_activity is a snapshot taken at its first read: take a fresh one.
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    return await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
        "AND pid <> pg_backend_pid()"
    )


def _assert_shed(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert body["status"] == status and body["type"].startswith("https://") and body["detail"]


def _shed_count(metrics: str, service: str, reason: str) -> float:
    prefix = f'harbour_requests_shed_total{{reason="{reason}",service="{service}"}} '
    return sum(float(line.removeprefix(prefix)) for line in metrics.splitlines() if line.startswith(prefix))


def test_every_service_sheds_load():
    assert all(is_known_org(org) for org in (POLICE_A, POLICE_B, POLICE_C))
    for name in registry.available():
        app = create_app(registry.definition(name), settings=fast_settings(), background=False)
        # In front of everything, tracing included: a shed request costs no span.
        assert isinstance(app.build_middleware_stack(), LoadShedding), name


async def test_beyond_the_limits_requests_get_503_or_429_at_once_and_the_admitted_ones_succeed_whole(
    pg_server_url, running_broker
):
    # The production pool (8): the four admitted requests hold four connections while they wait for the lock, and
    # health, metrics and the shed answers must not wait for a fifth (the tests' pool of 4 would be full).
    settings = fast_settings(max_in_flight=4, max_in_flight_per_caller=2, queue_wait_seconds=0.0,
                             request_deadline_seconds=120.0, db_pool_max=8)  # fmt: skip
    async with running_service(INTAKE, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               settings=settings) as intake:  # fmt: skip
        db_url = intake.runtime.endpoints.database_url
        before = await _table_rows(db_url)
        metrics_before = (await intake.client.get("/metrics")).text
        async with appends_held(db_url) as lock:
            admitted = [_referral(intake, POLICE_A), _referral(intake, POLICE_A)]
            await wait_until(lambda: _at_least(_waiting_appends(lock), 2))
            # Caller A holds its whole share: more from A is a 429, whatever room the service has.
            over_share = await asyncio.gather(*(_referral(intake, POLICE_A) for _ in range(3)))
            admitted += [_referral(intake, POLICE_B), _referral(intake, POLICE_B)]
            await wait_until(lambda: _at_least(_waiting_appends(lock), 4))
            # The service holds as many as it may: a caller within its share gets a 503, and no place waits.
            saturated = await asyncio.gather(*(_referral(intake, POLICE_C) for _ in range(3)))
            # The operator still sees the service: health and metrics are never shed.
            assert (await intake.client.get("/health")).status_code == 200
            metrics = await intake.client.get("/metrics")
            assert metrics.status_code == 200
            assert not any(t.done() for t in admitted)  # still waiting for the lock, not answered
        answers = await asyncio.gather(*admitted)
        after = await _table_rows(db_url)
        conn = await asyncpg.connect(db_url)
        try:
            streams = await conn.fetchval("SELECT count(DISTINCT stream_id) FROM events")
        finally:
            await conn.close()

    for response in over_share:
        _assert_shed(response, 429)
    for response in saturated:
        _assert_shed(response, 503)
    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    assert _shed_count(metrics.text, "intake", "caller") - _shed_count(metrics_before, "intake", "caller") == 3
    assert _shed_count(metrics.text, "intake", "saturated") - _shed_count(metrics_before, "intake", "saturated") == 3
    # Exactly the four admitted referrals were written, each whole (its person's key and its events).
    assert after["person_keys"] - before["person_keys"] == 4
    assert streams == 4


async def test_a_deadline_that_runs_out_inside_a_transaction_rolls_it_back_and_answers_503(
    pg_server_url, running_broker
):
    settings = fast_settings(request_deadline_seconds=1.0)
    async with running_service(INTAKE, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               settings=settings) as intake:  # fmt: skip
        db_url = intake.runtime.endpoints.database_url
        before = await _table_rows(db_url)
        async with appends_held(db_url):
            # Each referral seals the person's data (a row written in its transaction), then waits to append
            # until PostgreSQL cancels it at the deadline.
            late = await asyncio.gather(*(_referral(intake, org) for org in (POLICE_A, POLICE_B, POLICE_C)))
        after = await _table_rows(db_url)
        retried = await _referral(intake, POLICE_A)

    for response in late:
        _assert_shed(response, 503)
    assert after == before  # nothing of the three commands stayed: not a key, not an event, not a claim
    assert retried.status_code == 201, retried.text  # and sending it again is safe


async def test_a_caller_that_floods_does_not_starve_another(pg_server_url, running_broker):
    settings = fast_settings(max_in_flight=4, max_in_flight_per_caller=2, queue_wait_seconds=0.5)
    async with running_service(INTAKE, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               settings=settings) as intake:  # fmt: skip
        flooder: Counter[int] = Counter()
        polite: list[int] = []
        done = asyncio.Event()

        async def flood() -> None:
            while not done.is_set():
                response = await _referral(intake, POLICE_A)
                flooder[response.status_code] += 1
                if response.status_code == 429:
                    await asyncio.sleep(0.01)  # a flooder that ignores Retry-After, short of spinning

        flooders = [asyncio.create_task(flood()) for _ in range(6)]
        try:
            # A's share is 2 of 4 places, B sends one at a time: B always finds a place.
            for _ in range(10):
                polite.append((await _referral(intake, POLICE_B)).status_code)
        finally:
            done.set()
            await asyncio.gather(*flooders)
        conn = await asyncpg.connect(intake.runtime.endpoints.database_url)
        try:
            streams = await conn.fetchval("SELECT count(DISTINCT stream_id) FROM events")
        finally:
            await conn.close()

    assert polite == [201] * 10
    assert flooder[201] >= 1 and flooder[429] >= 1, flooder
    assert set(flooder) <= {201, 429, 503}, flooder  # shed, never failed
    assert streams == flooder[201] + 10  # every success written once, every shed request not at all


async def test_cancelling_a_task_inside_an_asyncpg_transaction_rolls_the_transaction_back(db_pool):
    # What the deadline relies on when a request's task is cancelled (a client gone, a server stopping).
    async with db_pool.acquire() as conn:
        await conn.execute("CREATE TABLE written (n int)")

    async def half_done() -> None:
        async with db_pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO written VALUES (1)")
            await conn.execute("SELECT pg_sleep(60)")

    task = asyncio.create_task(half_done())

    async def sleeping() -> bool:
        # Running, not merely the last statement of an idle connection (pg_stat_activity keeps its text): the pool
        # sends no reset statement after a connection that left nothing on its session.
        async with db_pool.acquire() as conn:
            return bool(await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
                "AND query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()"))  # fmt: skip

    await wait_until(sleeping)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM written") == 0
    await wait_until(lambda: _negate(sleeping()))  # and the cancelled statement does not run on


async def _at_least(value: object, expected: int) -> bool:
    return await value >= expected  # type: ignore[misc]


async def _negate(value: object) -> bool:
    return not await value  # type: ignore[misc]
