"""A read model for the test-only pantry: shelf totals, updated inline and rebuildable from position 0."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from harbour.projection import Projection
from harbour.store import RecordedEvent
from tests.support.pantry import ShelfEmptied, ShelfStocked
from tests.support.pantry_service import PANTRY


class ShelfTotals(Projection):
    name = "pantry.shelf_totals"
    tables = ("shelf_totals",)

    async def on_ShelfStocked(self, conn: Any, event: RecordedEvent) -> None:
        e: ShelfStocked = event.event  # type: ignore[assignment]
        await conn.execute(
            """INSERT INTO shelf_totals (shelf_id, item, total, last_version) VALUES ($1, $2, $3, $4)
               ON CONFLICT (shelf_id, item)
               DO UPDATE SET total = shelf_totals.total + $3, last_version = $4""",
            e.shelf_id, e.item, e.count, event.stream_version,
        )  # fmt: skip

    async def on_ShelfEmptied(self, conn: Any, event: RecordedEvent) -> None:
        e: ShelfEmptied = event.event  # type: ignore[assignment]
        await conn.execute("DELETE FROM shelf_totals WHERE shelf_id = $1", e.shelf_id)


# The pantry with its read model (the plain PANTRY stays as the runtime tests use it).
PANTRY_WITH_TOTALS = dataclasses.replace(
    PANTRY, migrations=Path(__file__).parent / "pantry_migrations", projections=[ShelfTotals()]
)
