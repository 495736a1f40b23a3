"""Commands run by ``retrying``: decided again on a fresh read after a lost race, or queued behind each other."""

from __future__ import annotations

import asyncio
from typing import Any

from harbour.errors import ConcurrencyError
from harbour.store import Actor, CommandContext, EventStore
from harbour.unit_of_work import retrying
from tests.support.pantry import ShelfStocked

CTX = CommandContext(actor=Actor("centre-payoke", "caseworker", "u1"))


def _stock_one_more(store: EventStore, attempts: list[int]) -> Any:
    """A command that decides on the version it read, and gives a competitor time to commit in between."""

    async def work(conn: Any) -> None:
        attempts.append(1)
        version = len(await store.read_stream("shelf-q", conn=conn))
        await asyncio.sleep(0.01)
        await store.append(stream_id="shelf-q", stream_type="shelf", case_id="case-q", expected_version=version,
                           events=[ShelfStocked(shelf_id="q", item="rice", count=1, unit="kg")], context=CTX,
                           conn=conn)  # fmt: skip

    return work


async def test_a_burst_of_commands_queued_on_one_case_each_runs_once_on_what_the_one_before_committed(db_pool):
    store = EventStore(db_pool)
    attempts: list[int] = []
    work = _stock_one_more(store, attempts)
    await asyncio.gather(*(retrying(store.transaction, work, queue_on="case-q") for _ in range(12)))
    assert [e.stream_version for e in await store.read_stream("shelf-q")] == list(range(1, 13))
    assert len(attempts) == 12  # no command lost a race: none had to be decided twice


async def test_commands_racing_without_a_queue_are_decided_again_until_each_is_recorded(db_pool):
    store = EventStore(db_pool)
    attempts: list[int] = []
    work = _stock_one_more(store, attempts)
    await asyncio.gather(*(retrying(store.transaction, work) for _ in range(4)))
    assert len(await store.read_stream("shelf-q")) == 4
    assert len(attempts) > 4  # they did collide, and the losers were decided again


async def test_a_command_that_named_its_version_sees_the_conflict_instead_of_a_retry(db_pool):
    store = EventStore(db_pool)
    attempts: list[int] = []
    work = _stock_one_more(store, attempts)
    results = await asyncio.gather(*(retrying(store.transaction, work, retry=False) for _ in range(3)),
                                   return_exceptions=True)  # fmt: skip
    assert sum(isinstance(r, ConcurrencyError) for r in results) == 2
    assert len(attempts) == 3
