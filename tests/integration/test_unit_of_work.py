"""Commands run by ``retrying``: decided again on a fresh read after a lost race, or queued behind each other."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import REGISTRY

from harbour.errors import ConcurrencyError
from harbour.store import Actor, CommandContext, EventStore
from harbour.unit_of_work import queue, retrying
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


def _retried(reason: str) -> float:
    return REGISTRY.get_sample_value("harbour_command_retries_total", {"reason": reason}) or 0.0


async def test_two_commands_learning_two_queue_keys_in_opposite_orders_both_commit_without_a_deadlock(db_pool):
    store = EventStore(db_pool)
    holding = {"net-a": asyncio.Event(), "net-b": asyncio.Event()}
    attempts: list[str] = []

    def reaching(first: str, then: str) -> Any:
        """Queued on ``first``, the command learns while deciding that it reaches ``then`` too (a freed bed that
        places someone who also waits in another centre), once the other command holds ``then``."""

        async def work(conn: Any) -> None:
            attempts.append(first)
            if not holding[first].is_set():
                holding[first].set()
                await asyncio.wait_for(holding[then].wait(), 10)
            await queue(conn, then)
            await store.append(stream_id=f"shelf-{first}", stream_type="shelf", case_id="case-q", expected_version=None,
                               events=[ShelfStocked(shelf_id=first, item="rice", count=1, unit="kg")], context=CTX,
                               conn=conn)  # fmt: skip

        return work

    deadlocks, reordered = _retried("deadlock"), _retried("queue-order")
    await asyncio.gather(retrying(store.transaction, reaching("net-b", "net-a"), queue_on="net-b"),
                         retrying(store.transaction, reaching("net-a", "net-b"), queue_on="net-a"))  # fmt: skip
    assert len(await store.read_stream("shelf-net-a")) == 1 and len(await store.read_stream("shelf-net-b")) == 1
    # The one that learned a key sorting before its own stepped back and took both in order; nobody waited in a
    # circle for PostgreSQL's deadlock detector to break it.
    assert _retried("deadlock") == deadlocks
    assert _retried("queue-order") == reordered + 1
    assert sorted(attempts) == ["net-a", "net-b", "net-b"]
