"""An idle platform holds few PostgreSQL connections: two platforms (or a platform and its tests) must fit on
a server with the default ``max_connections`` of 100, so each service at rest holds at most four on average (the
seven services: 28; five held 16 before statistics and signals came)."""

from __future__ import annotations

import asyncio

import asyncpg

from harbour.db import database_url
from harbour.settings import HarbourSettings
from services import registry
from tests.support.harness import QUICK_GROUPS, running_service, running_services

IDLE_PER_SERVICE = 4


async def _connections(pg_server_url: str, databases: list[str]) -> dict[str, int]:
    conn = await asyncpg.connect(database_url(pg_server_url, "postgres"))
    try:
        rows = await conn.fetch(
            "SELECT datname, count(*) AS n FROM pg_stat_activity WHERE datname = ANY($1::text[]) GROUP BY datname",
            databases,
        )
    finally:
        await conn.close()
    return {row["datname"]: row["n"] for row in rows}


async def test_an_idle_platform_holds_at_most_four_connections_a_service_after_a_burst(pg_server_url, running_broker):
    # Every setting that shapes how many connections there are is the production default (pool sizes, relay and
    # timer polling: more frequent polls would only keep more pooled connections busy). Two only shape how soon:
    # the consumer-group timeouts (QUICK_GROUPS: how soon a group forms) and the idle lifetime, 3 s instead of
    # the default 10 s (how soon a pool closes what the burst opened; the test waits three lifetimes for it).
    defaults = HarbourSettings()
    assert (defaults.db_pool_min, defaults.db_pool_max, defaults.db_pool_idle_seconds) == (0, 8, 10.0)
    settings = HarbourSettings(consumer_max_attempts=2, db_pool_idle_seconds=3.0, **QUICK_GROUPS)  # type: ignore[arg-type]
    assert (settings.db_pool_min, settings.db_pool_max) == (defaults.db_pool_min, defaults.db_pool_max)
    starts = {name: running_service(registry.definition(name), pg_server_url=pg_server_url,
                                    bootstrap=running_broker.bootstrap, settings=settings)
              for name in registry.available()}  # fmt: skip
    async with running_services(starts) as services:
        databases = [s.runtime.endpoints.database_url.rpartition("/")[2] for s in services.values()]
        assert len(databases) == len(registry.available()) >= 5
        idle_limit = IDLE_PER_SERVICE * len(databases)

        # A burst: every /health takes a pooled connection, so each pool grows to its maximum. Thirty at once on a
        # pool of eight wait for a connection, and that wait counts against the request's deadline: on a loaded
        # machine a few get the deadline's 503 (CI, 2026-12-03, beside another suite), which is the answer the
        # service promises then. Never a 500, and most of the burst reached the database.
        for service in services.values():
            answers = await asyncio.gather(*(service.client.get("/health") for _ in range(30)))
            statuses = [a.status_code for a in answers]
            assert set(statuses) <= {200, 503} and statuses.count(200) > len(statuses) // 2, statuses
        busy = await _connections(pg_server_url, databases)

        # At rest: the pools close what the burst opened; the dedicated connections stay.
        deadline = asyncio.get_running_loop().time() + 3 * settings.db_pool_idle_seconds
        idle = busy
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(1.0)
            idle = await _connections(pg_server_url, databases)
            if sum(idle.values()) <= idle_limit:
                # Once more after another idle lifetime: below the bound, and staying there. The fewest of three
                # looks a second apart: on a loaded machine a relay's and a timer's poll can overlap and hold a
                # second pooled connection for a moment; a pool that kept what the burst opened (the failure this
                # test is for: nine or ten a service) stays above the bound in all three.
                await asyncio.sleep(settings.db_pool_idle_seconds)
                looks = []
                for _ in range(3):
                    looks.append(await _connections(pg_server_url, databases))
                    await asyncio.sleep(1.0)
                idle = min(looks, key=lambda look: sum(look.values()))
                break
        assert sum(idle.values()) <= idle_limit, (busy, idle)
        assert all(n <= settings.db_pool_max + 3 for n in busy.values()), busy
