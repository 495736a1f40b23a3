"""Two consumers folding the first events of one case at once both land in its fact row.

A case's events come on several topics (intake's CaseOpened, legal's ReflectionPeriodStarted) and are folded by
several consumers at the same time. ``SELECT ... FOR UPDATE`` locks no row that does not exist yet, so before the
key's own lock both read an empty fact and the second upsert wiped the first's: the case was never counted (the
statistics service test failed about one run in two on it).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date

import asyncpg

from harbour.db import database_url, drop_database
from schemas import legal
from services.statistics import facts, store
from services.statistics.app import DEFINITION
from tests.support.statistics_population import case_opened
from tests.support.templates import create_migrated, migrations_of
from tests.support.waiting import wait_until

SECRET = b"k" * 32


async def test_the_first_events_of_a_case_folded_at_once_by_two_consumers_are_both_kept(pg_server_url):
    name = f"harbour_test_statistics_facts_{uuid.uuid4().hex[:8]}"
    await create_migrated(pg_server_url, name, migrations_of("statistics", DEFINITION.migrations))
    url = database_url(pg_server_url, name)
    first, second, look = [await asyncpg.connect(url) for _ in range(3)]
    case_id = f"case-{uuid.uuid4().hex[:8]}"
    opened = case_opened(case_id, on=date(2026, 3, 1))
    reflection = legal.ReflectionPeriodStarted(case_id=case_id, decided_on=date(2026, 3, 10),
                                               starts_on=date(2026, 3, 10), ends_on=date(2026, 6, 10),
                                               unaccompanied_minor=False)  # fmt: skip
    try:
        # The intake consumer's fold is in its transaction, not yet committed, when legal's arrives.
        held = first.transaction()
        await held.start()
        await store.record(first, SECRET, case_id, _fold(opened))
        racing = second.transaction()
        await racing.start()
        other = asyncio.create_task(store.record(second, SECRET, case_id, _fold(reflection)))

        async def waiting() -> bool:  # legal's fold waits for the case (on its lock, or on the row)
            return bool(await look.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND "
                                            "wait_event_type = 'Lock'", name))  # fmt: skip

        await wait_until(waiting, timeout=30)
        await held.commit()
        await other
        await racing.commit()
        rows = await look.fetch("SELECT fact FROM statistics_facts")
        assert len(rows) == 1
        fact = facts.Fact.from_json(json.loads(rows[0]["fact"]))
        assert fact.counted and fact.year == 2026  # intake's CaseOpened kept
        assert fact.stage == "annex-15"  # and legal's reflection period
    finally:
        for conn in (first, second, look):
            await conn.close()
        await drop_database(pg_server_url, name)


def _fold(event):
    return lambda fact: facts.fold(fact, event)
