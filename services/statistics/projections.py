"""The releases as read models (migrations/0001): each StatisticsReleased, in the append's transaction."""

from __future__ import annotations

from harbour.db import Connection
from harbour.projection import Projection
from harbour.store import RecordedEvent
from schemas.statistics import StatisticsReleased


class Releases(Projection):
    name = "statistics_releases"
    tables = ("statistics_releases",)

    async def on_StatisticsReleased(self, conn: Connection, event: RecordedEvent) -> None:
        release = event.event
        assert isinstance(release, StatisticsReleased)
        await conn.execute(
            """INSERT INTO statistics_releases (seq, release_id, period, version, public, release)
               VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT DO NOTHING""",
            event.global_position, release.release_id, release.period, release.version, release.public,
            release.model_dump_json(),
        )  # fmt: skip


PROJECTIONS = [Releases()]
