"""The projection contract, once, for every service: subclass :class:`ProjectionContract` per service.

A read model is kept inline, in the append's transaction, and may be emptied and rebuilt from position 0 at
any time (``harbour rebuild``, harbour_tools/ops.py): both must give the same rows, or a rebuild after a bug
fix would quietly change what callers read. A subclass names its service's definition and gives the fixture
``projected``: the service running (tests/support/harness.py ``running_service``) after a few real commands
through its API. The same tests then hold every projection of every service to the promise:

* every projection of the definition is checked, and each projection with tables of its own has rows to
  compare (a rebuild of empty tables proves nothing);
* ``harbour rebuild`` of each projection, one after another, from position 0, leaves every table as the
  inline projections wrote it, and reads every stored event;
* so does emptying every projection at once and applying the store's ``read_all`` through them in one
  transaction (rolled back: the module's other tests read the inline rows).

A projection without tables of its own (case audiences, custody) writes rows that consumers fill too, which a
rebuild cannot empty: it must converge, so its shared tables are compared as well.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from harbour.service import ServiceDefinition
from harbour.store import Position
from harbour_tools import ops
from tests.support.harness import RunningService
from tests.support.waiting import wait_until

# Tables that projections without tables of their own write, beside consumers (never emptied by a rebuild).
SHARED_TABLES = ("case_audiences", "case_custody")
# Columns that say when a row was last written, not what the events say: a rebuild writes them again.
WRITE_TIMES = {"case_audiences": frozenset({"updated_at"})}


class _RolledBack(Exception):
    pass


class ProjectionContract:
    """Not collected itself (no ``Test`` prefix): each service's ``Test...Projections`` subclass runs these tests.

    ``definition``: the service's. ``may_be_empty``: projections the subclass's commands leave without rows
    (say why where you list one). The subclass defines the fixture ``projected`` (a :class:`RunningService`).
    """

    definition: ClassVar[ServiceDefinition]
    may_be_empty: ClassVar[frozenset[str]] = frozenset()
    # Cases whose intake facts reach this service only through a consumer (case_audiences rows): the subclass's
    # fixture lists the case ids it opened, and the tests wait until each one's row holds its root, or a
    # rebuild after those facts would "differ" from rows snapshotted before them (seen in CI, legal and tracks).
    consumer_fed_cases: ClassVar[list[str]] = []

    @pytest.fixture(autouse=True)
    async def _consumer_facts_arrived(self, projected: RunningService) -> None:
        if "case_audiences" not in self.tables() or not self.consumer_fed_cases:
            return

        async def arrived() -> bool:
            async with projected.runtime.pool.acquire() as conn:
                known = await conn.fetchval(
                    "SELECT count(*) FROM case_audiences WHERE case_key = ANY($1::text[]) AND root_id IS NOT NULL",
                    self.consumer_fed_cases,
                )
            return int(known) == len(set(self.consumer_fed_cases))

        await wait_until(arrived)

    def tables(self) -> list[str]:
        return [t for p in self.definition.projections for t in p.tables] + list(SHARED_TABLES)

    async def snapshot(self, conn: Any) -> dict[str, list[tuple]]:
        out: dict[str, list[tuple]] = {}
        for table in self.tables():
            skip = WRITE_TIMES.get(table, frozenset())
            rows = await conn.fetch(f"SELECT * FROM {table}")
            out[table] = sorted((tuple(v for k, v in r.items() if k not in skip) for r in rows), key=repr)
        return out

    async def test_every_projection_with_tables_has_rows_to_compare(self, projected: RunningService):
        assert list(projected.runtime.definition.projections) == list(self.definition.projections)
        async with projected.runtime.pool.acquire() as conn:
            rows = await self.snapshot(conn)
        empty = sorted(
            p.name
            for p in self.definition.projections
            if p.tables and p.name not in self.may_be_empty and not any(rows[t] for t in p.tables)
        )
        assert empty == [], f"the commands left these projections without rows: {empty}"

    async def test_harbour_rebuild_of_every_projection_from_position_zero_equals_the_inline_rows(
        self, projected: RunningService
    ):
        pool = projected.runtime.pool
        async with pool.acquire() as conn:
            inline = await self.snapshot(conn)
            stored = int(await conn.fetchval("SELECT count(*) FROM events"))
        assert stored > 0
        for projection in self.definition.projections:
            assert await ops.rebuild(pool, projection) == stored, projection.name
        async with pool.acquire() as conn:
            rebuilt = await self.snapshot(conn)
        differ = {t: (inline[t], rebuilt[t]) for t in inline if inline[t] != rebuilt[t]}
        assert differ == {}, f"rebuilt rows differ from the inline ones (inline, rebuilt): {differ}"

    async def test_every_projection_emptied_and_fed_the_stores_read_all_equals_the_inline_rows(
        self, projected: RunningService
    ):
        runtime = projected.runtime
        projections = self.definition.projections
        async with runtime.pool.acquire() as conn:
            last = await conn.fetchval("SELECT max(global_position) FROM events")

        async def all_readable() -> bool:
            # read_all reads only below the server's oldest running transaction: one in another worker's test
            # held it back, and the rebuilt rows then lacked this service's last events (seen in CI).
            return (await runtime.store.head()).global_position == last

        await wait_until(all_readable)
        result: dict[str, Any] = {}
        try:
            async with runtime.store.transaction() as conn:
                result["before"] = await self.snapshot(conn)
                for projection in projections:
                    await projection.reset(conn)
                events = await runtime.store.read_all(Position(), limit=1_000_000, conn=conn)
                result["events"] = len(events)
                for event in events:
                    for projection in projections:
                        await projection.handle(conn, event)
                result["after"] = await self.snapshot(conn)
                raise _RolledBack
        except _RolledBack:
            pass
        assert result["events"] > 0
        assert result["after"] == result["before"]
