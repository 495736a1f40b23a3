"""Housing's read models, updated in the append's transaction and rebuildable from position 0.

No projection holds a shelter address (none is in any event) nor a clear independent-housing address: the
history endpoint reads the person's sealed moves from the store and opens them only on an audited request.
"""

from __future__ import annotations

from typing import Any

from harbour.projection import Projection
from harbour.store import RecordedEvent
from schemas.housing import (
    BedAdded,
    BedAssigned,
    BedReturnedToService,
    BedTakenOutOfService,
    CrossCentrePlacementAccepted,
    CrossCentrePlacementDeclined,
    CrossCentrePlacementRequested,
    PlacementExited,
    PlacementRequested,
    PlacementRequestWithdrawn,
    PlacementWaitlisted,
    ShelterRegistered,
)
from services.housing.commands import local_day
from services.housing.domain import URGENCY_RANK


class ShelterBeds(Projection):
    """Shelters, their beds and who sleeps in each; plus one occupancy row per shelter and day."""

    name = "housing_shelter_beds"
    tables = ("housing_shelters", "housing_beds", "housing_occupancy_daily")

    async def on_ShelterRegistered(self, conn: Any, recorded: RecordedEvent) -> None:
        event = recorded.event
        assert isinstance(event, ShelterRegistered)
        # No name: it is in housing's private shelter_names, which the queries join (a rebuild from events alone
        # could not refill it).
        await conn.execute("INSERT INTO housing_shelters (shelter_id, centre) VALUES ($1, $2)",
                           event.shelter_id, event.centre.value)  # fmt: skip
        await conn.executemany(
            "INSERT INTO housing_beds (shelter_id, bed_id, centre, constraints) VALUES ($1, $2, $3, $4)",
            [(event.shelter_id, bed.bed_id, event.centre.value, sorted(c.value for c in bed.constraints))
             for bed in event.beds],
        )  # fmt: skip
        await self._snapshot(conn, event.shelter_id, recorded)

    async def on_BedAdded(self, conn: Any, recorded: RecordedEvent) -> None:
        event = recorded.event
        assert isinstance(event, BedAdded)
        await conn.execute(
            """INSERT INTO housing_beds (shelter_id, bed_id, centre, constraints)
               SELECT $1, $2, centre, $3 FROM housing_shelters WHERE shelter_id = $1""",
            event.shelter_id, event.bed_id, sorted(c.value for c in event.constraints),
        )  # fmt: skip
        await self._snapshot(conn, event.shelter_id, recorded)

    async def on_BedTakenOutOfService(self, conn: Any, recorded: RecordedEvent) -> None:
        await self._set_service(conn, recorded, False)

    async def on_BedReturnedToService(self, conn: Any, recorded: RecordedEvent) -> None:
        await self._set_service(conn, recorded, True)

    async def _set_service(self, conn: Any, recorded: RecordedEvent, in_service: bool) -> None:
        event = recorded.event
        assert isinstance(event, BedTakenOutOfService | BedReturnedToService)
        await conn.execute("UPDATE housing_beds SET in_service = $3 WHERE shelter_id = $1 AND bed_id = $2",
                           event.shelter_id, event.bed_id, in_service)  # fmt: skip
        await self._snapshot(conn, event.shelter_id, recorded)

    async def on_BedAssigned(self, conn: Any, recorded: RecordedEvent) -> None:
        event = recorded.event
        assert isinstance(event, BedAssigned)
        await conn.execute(
            "UPDATE housing_beds SET occupant = $3, since = $4 WHERE shelter_id = $1 AND bed_id = $2",
            event.shelter_id, event.bed_id, event.case_id, event.on,
        )  # fmt: skip
        await self._snapshot(conn, event.shelter_id, recorded)

    async def on_PlacementExited(self, conn: Any, recorded: RecordedEvent) -> None:
        event = recorded.event
        assert isinstance(event, PlacementExited)
        await conn.execute(
            "UPDATE housing_beds SET occupant = NULL, since = NULL WHERE shelter_id = $1 AND bed_id = $2",
            event.shelter_id, event.bed_id,
        )  # fmt: skip
        await self._snapshot(conn, event.shelter_id, recorded)

    @staticmethod
    async def _snapshot(conn: Any, shelter_id: str, recorded: RecordedEvent) -> None:
        # The day is the Brussels date the event was recorded on (not a date typed in the command): the
        # history then says what the centre knew at the end of each day, and a rebuild gives the same rows.
        await conn.execute(
            """INSERT INTO housing_occupancy_daily (shelter_id, day, centre, beds, in_service, occupied)
               SELECT shelter_id, $2, min(centre), count(*), count(*) FILTER (WHERE in_service),
                      count(*) FILTER (WHERE occupant IS NOT NULL)
                 FROM housing_beds WHERE shelter_id = $1 GROUP BY shelter_id
               ON CONFLICT (shelter_id, day) DO UPDATE
                  SET beds = EXCLUDED.beds, in_service = EXCLUDED.in_service, occupied = EXCLUDED.occupied""",
            shelter_id, local_day(recorded.occurred_at),
        )  # fmt: skip


class PlacementRequests(Projection):
    """Every placement request and where it stands; the waiting lists are the rows with status 'waiting'."""

    name = "housing_placement_requests"
    tables = ("housing_requests",)

    async def on_PlacementRequested(self, conn: Any, recorded: RecordedEvent) -> None:
        event = recorded.event
        assert isinstance(event, PlacementRequested)
        await self._open(conn, recorded, network=event.centre.value, from_centre=event.centre.value, status="new")

    async def on_CrossCentrePlacementRequested(self, conn: Any, recorded: RecordedEvent) -> None:
        event = recorded.event
        assert isinstance(event, CrossCentrePlacementRequested)
        await self._open(conn, recorded, network=event.host_centre.value, from_centre=event.from_centre.value,
                         status="awaiting-acceptance")  # fmt: skip

    @staticmethod
    async def _open(conn: Any, recorded: RecordedEvent, *, network: str, from_centre: str, status: str) -> None:
        event = recorded.event
        assert isinstance(event, PlacementRequested | CrossCentrePlacementRequested)
        await conn.execute(
            """INSERT INTO housing_requests (request_id, network, from_centre, case_id, needs, urgency,
                                             urgency_rank, requested_at, seq, status)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
            event.request_id, network, from_centre, event.case_id, sorted(n.value for n in event.needs),
            event.urgency.value, URGENCY_RANK[event.urgency], event.requested_at, recorded.global_position, status,
        )  # fmt: skip

    async def on_CrossCentrePlacementAccepted(self, conn: Any, recorded: RecordedEvent) -> None:
        event = recorded.event
        assert isinstance(event, CrossCentrePlacementAccepted)
        await self._status(conn, event.request_id, "new")

    async def on_PlacementWaitlisted(self, conn: Any, recorded: RecordedEvent) -> None:
        event = recorded.event
        assert isinstance(event, PlacementWaitlisted)
        await self._status(conn, event.request_id, "waiting")

    async def on_BedAssigned(self, conn: Any, recorded: RecordedEvent) -> None:
        event = recorded.event
        assert isinstance(event, BedAssigned)
        await conn.execute(
            """UPDATE housing_requests SET status = 'assigned', shelter_id = $2, bed_id = $3, closed_on = $4
               WHERE request_id = $1""",
            event.request_id, event.shelter_id, event.bed_id, event.on,
        )  # fmt: skip

    async def on_CrossCentrePlacementDeclined(self, conn: Any, recorded: RecordedEvent) -> None:
        event = recorded.event
        assert isinstance(event, CrossCentrePlacementDeclined)
        await self._status(conn, event.request_id, "declined", event.on)

    async def on_PlacementRequestWithdrawn(self, conn: Any, recorded: RecordedEvent) -> None:
        event = recorded.event
        assert isinstance(event, PlacementRequestWithdrawn)
        await self._status(conn, event.request_id, "withdrawn", event.on)

    @staticmethod
    async def _status(conn: Any, request_id: str, status: str, closed_on: Any = None) -> None:
        await conn.execute("UPDATE housing_requests SET status = $2, closed_on = $3 WHERE request_id = $1",
                           request_id, status, closed_on)  # fmt: skip


PROJECTIONS = [ShelterBeds(), PlacementRequests()]
