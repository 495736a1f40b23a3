"""Feeds stores every audience's milestones from the real topics and pages them with stable cursors."""

from __future__ import annotations

import asyncio
import uuid

from harbour.db import drop_database
from services.feeds import projections
from services.feeds.app import DEFINITION
from tests.integration.test_feeds_helpers import (
    FEEDS_SETTINGS,
    all_pages,
    ensure_audience_topics,
    ids,
    milestones,
    publish,
    reader,
    wait_stored,
)
from tests.support.harness import running_service
from tests.support.kafka import headers_of, read_topic
from tests.support.waiting import wait_until

# Audiences the other suites hardly use, so a test's feed holds (almost) only its own milestones.
PAGED = "labour-auditorate-namur"
REDELIVERED = "labour-auditorate-mons"
POISONED = "labour-auditorate-liege"


async def test_milestones_are_paged_once_in_order_with_cursors_that_survive_a_feeds_restart(
    pg_server_url, running_broker
):
    bootstrap = running_broker.bootstrap
    database = f"harbour_test_feeds_{uuid.uuid4().hex[:8]}"
    await ensure_audience_topics(bootstrap, [PAGED])
    first_batch = milestones(PAGED, 7)
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=bootstrap, database=database,
                               keep_database=True, settings=FEEDS_SETTINGS) as feeds:  # fmt: skip
        await publish(bootstrap, first_batch)
        await wait_stored(feeds, PAGED, first_batch)
        before = await all_pages(feeds, PAGED, limit=3)  # three pages of 3, 3 and 1
        cursors = [i["cursor"] for i in before]
        assert cursors == list(range(1, len(before) + 1)), "cursors are 1, 2, 3, ... with no gap"
        assert [m for m in ids(before) if m in {str(x.milestone_id) for x in first_batch}] == [
            str(m.milestone_id) for m in first_batch
        ], "one case's milestones in the order they were published, each once"
        head = cursors[-1]
    second_batch = milestones(PAGED, 4, case_ref=first_batch[0].case_ref, start=7)
    await publish(bootstrap, second_batch)  # while feeds is down: the consumer group picks them up later
    try:
        async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=bootstrap,
                                   database=database, settings=FEEDS_SETTINGS) as feeds:  # fmt: skip
            await wait_stored(feeds, PAGED, second_batch)
            after = await all_pages(feeds, PAGED, limit=2)
            assert after[: len(before)] == before, "the same cursor names the same milestone after a restart"
            rest = await all_pages(feeds, PAGED, after=head)
            assert ids(rest) == [str(m.milestone_id) for m in second_batch]
            assert [i["cursor"] for i in rest] == list(range(head + 1, head + 1 + len(second_batch)))
            empty = (await feeds.client.get(f"/feeds/{PAGED}/milestones", params={"after": head + 4},
                                            headers=reader(feeds, PAGED))).json()  # fmt: skip
            assert empty == {"audience": PAGED, "items": [], "next": head + 4, "more": False}
    finally:
        await drop_database(pg_server_url, database)


async def test_a_redelivered_milestone_appears_once(pg_server_url, running_broker):
    bootstrap = running_broker.bootstrap
    await ensure_audience_topics(bootstrap, [REDELIVERED])
    once, twice, last = milestones(REDELIVERED, 3)
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=bootstrap,
                               settings=FEEDS_SETTINGS) as feeds:  # fmt: skip
        # A relay that crashed before its checkpoint publishes again: same milestone, same id, new offset.
        await publish(bootstrap, [once, twice, twice, last, once])
        await wait_stored(feeds, REDELIVERED, [once, twice, last])
        await asyncio.sleep(0.5)  # a duplicate stored late would show up now
        items = [i for i in await all_pages(feeds, REDELIVERED) if i["milestone"]["case_ref"] == once.case_ref]
        assert ids(items) == [str(once.milestone_id), str(twice.milestone_id), str(last.milestone_id)]
        assert [i["milestone"] for i in items][1] == twice.model_dump(mode="json")
        cursors = [i["cursor"] for i in await all_pages(feeds, REDELIVERED)]
        assert cursors == list(range(1, len(cursors) + 1)), "a duplicate takes no cursor"


async def test_concurrent_stores_of_one_audience_get_consecutive_cursors_and_duplicates_none(
    pg_server_url, running_broker
):
    """The counter row lock serialises one audience's stores: no cursor is skipped or used twice, even when
    copies of one milestone race each other (two replicas during a rebalance) past the inbox."""
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               background=False) as feeds:  # fmt: skip
        batch = milestones("centre-pag-asa", 40) + milestones("centre-surya", 10)

        async def store(milestone) -> int | None:
            async with feeds.runtime.store.transaction() as conn:
                return await projections.store(conn, milestone, topic="t", partition=0, offset=0)

        results = await asyncio.gather(*(store(m) for m in [*batch, *batch[:20]]))
        # Either copy of a duplicated milestone may win the race: exactly one of the two gets a cursor.
        pag_asa = [*results[:40], *results[50:]]
        assert sorted(c for c in pag_asa if c) == list(range(1, 41))
        assert sorted(c for c in results[40:50] if c) == list(range(1, 11))
        for original, copy in zip(results[:20], results[50:], strict=True):
            assert (original is None) != (copy is None), "a copy of a stored milestone adds nothing"
        async with feeds.runtime.pool.acquire() as conn:
            assert await conn.fetchval("SELECT last_cursor FROM feed_heads WHERE audience = 'centre-pag-asa'") == 40


async def test_a_malformed_or_misaddressed_milestone_is_dead_lettered_and_the_next_one_is_stored(
    pg_server_url, running_broker
):
    bootstrap = running_broker.bootstrap
    await ensure_audience_topics(bootstrap, [POISONED])
    topic = f"milestones.{POISONED}.v1"
    [good] = milestones(POISONED, 1)
    # Addressed to another office: storing it in this feed would show one office another's milestone.
    [stray] = milestones("centre-payoke", 1)
    marker = uuid.uuid4().hex.encode()
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=bootstrap,
                               settings=FEEDS_SETTINGS) as feeds:  # fmt: skip
        await publish(bootstrap, [(topic, b'{"not": "a milestone", "m": "' + marker + b'"}'),
                                  (topic, stray.model_dump_json().encode()), good])  # fmt: skip
        await wait_stored(feeds, POISONED, [good])

        async def dead_letters() -> list:
            return [r for r in await read_topic(bootstrap, f"{topic}.dlq")
                    if marker in r.value or str(stray.milestone_id).encode() in r.value]  # fmt: skip

        await wait_until(lambda: _has(dead_letters(), 2), timeout=20)
        reasons = sorted(headers_of(r)["dlq.error_type"] for r in await dead_letters())
        assert reasons == ["ValidationError", "ValueError"]
        assert {headers_of(r)["dlq.consumer"] for r in await dead_letters()} == {"feeds.milestones"}
        assert str(stray.milestone_id) not in ids(await all_pages(feeds, POISONED))


async def _has(records, n: int) -> bool:
    return len(await records) == n
