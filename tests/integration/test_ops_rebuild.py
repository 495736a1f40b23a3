"""``harbour rebuild``: a read model emptied and rebuilt from position 0 equals the one kept inline."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from harbour.projection import Projection
from harbour.store import Actor, CommandContext, RecordedEvent
from harbour.store.eventstore import _record
from harbour_tools import ops
from tests.support.harness import running_service
from tests.support.pantry import Shelf
from tests.support.pantry_projection import PANTRY_WITH_TOTALS, ShelfTotals
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

CTX = CommandContext(actor=Actor("centre-payoke", "caseworker", "t"))


async def _rows(pool) -> list[tuple]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT shelf_id, item, total, last_version FROM shelf_totals ORDER BY 1, 2")
    return [tuple(r) for r in rows]


async def test_a_rebuilt_projection_has_the_same_rows_as_the_inline_one(pg_server_url, running_broker):
    async with running_service(PANTRY_WITH_TOTALS, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               background=False) as pantry:  # fmt: skip
        repo = pantry.runtime.repository
        for n, shelf_id in enumerate(f"s{uuid.uuid4().hex[:4]}-{i}" for i in range(5)):
            for item in ("rice", "beans", "rice"):
                shelf = await repo.load_or_new(Shelf, shelf_id)
                shelf.stock(item, n + 1)
                await repo.save(shelf, CTX)
            if n == 2:  # one shelf emptied: its rows must stay gone after the rebuild
                shelf = await repo.load(Shelf, shelf_id)
                shelf.empty()
                await repo.save(shelf, CTX)
        inline = await _rows(pantry.runtime.pool)
        assert len(inline) == 8
        async with pantry.runtime.pool.acquire() as conn:  # the read model drifts (a bug, a manual edit...)
            await conn.execute("UPDATE shelf_totals SET total = 0")
            await conn.execute("INSERT INTO shelf_totals VALUES ('ghost', 'air', 1, 1)")
            await conn.execute("INSERT INTO checkpoints (name) VALUES ('projection:pantry.shelf_totals')")

        seen: list[tuple[int, int]] = []
        count = await ops.rebuild(
            pantry.runtime.pool, ShelfTotals(), batch=4, progress=lambda d, t: seen.append((d, t))
        )

        assert count == 16
        assert await _rows(pantry.runtime.pool) == inline
        assert seen[0] == (0, 16) and seen[-1] == (16, 16) and len(seen) == 5, "progress per batch of 4"
        async with pantry.runtime.pool.acquire() as conn:
            last = await conn.fetchval("SELECT max(global_position) FROM events")

        async def head_is_last() -> bool:
            # The head is the last *readable* position: an older transaction elsewhere on the server (a test in
            # another worker) holds it back for a moment.
            return (await pantry.runtime.store.head()).global_position == last

        await wait_until(head_is_last)
        head = await pantry.runtime.store.head()
        async with pantry.runtime.pool.acquire() as conn:
            checkpoint = await conn.fetchval(
                "SELECT global_position FROM checkpoints WHERE name = 'projection:pantry.shelf_totals'"
            )
        assert checkpoint == head.global_position


def test_an_unknown_projection_is_refused_with_the_known_ones_listed():
    with pytest.raises(LookupError, match=r"pantry\.shelf_totals"):
        ops.find_projection(PANTRY_WITH_TOTALS, "shelf_total")
    assert isinstance(ops.find_projection(PANTRY_WITH_TOTALS, "shelf_totals"), ShelfTotals)


async def test_a_rebuild_decodes_only_the_events_a_dispatching_projection_has_a_handler_for(
    pg_server_url, running_broker, monkeypatch
):
    class EmptiedOnly(Projection):
        name = "pantry.emptied_only"

        def __init__(self) -> None:
            self.seen: list[str] = []

        async def on_ShelfEmptied(self, conn: Any, event: RecordedEvent) -> None:
            self.seen.append(event.event_type)

    class EveryEvent(EmptiedOnly):
        name = "pantry.every_event"

        async def handle(self, conn: Any, event: RecordedEvent) -> None:  # overridden: it may want any event
            self.seen.append(event.event_type)

    built: list[str] = []

    def counting(row: Any) -> RecordedEvent:
        built.append(row["event_type"])
        return _record(row)

    async with running_service(PANTRY_WITH_TOTALS, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               background=False) as pantry:  # fmt: skip
        repo, shelf_id = pantry.runtime.repository, f"s{uuid.uuid4().hex[:4]}"
        shelf = await repo.load_or_new(Shelf, shelf_id)
        shelf.stock("rice", 1)
        shelf.stock("beans", 2)
        shelf.empty()
        await repo.save(shelf, CTX)
        monkeypatch.setattr(ops, "_record", counting)

        emptied, every = EmptiedOnly(), EveryEvent()
        assert await ops.rebuild(pantry.runtime.pool, emptied, batch=2) == 3, "every stored event is counted"
        assert emptied.seen == ["test.ShelfEmptied"] and built == ["test.ShelfEmptied"]
        assert await ops.rebuild(pantry.runtime.pool, every, batch=2) == 3
        assert len(every.seen) == 3
