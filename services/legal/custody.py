"""Which centre holds a case's residence file and proceedings: the admission, then every accepted transfer.

The legal service learns of a transfer from tracks' ``TransferAccepted`` (its inbox, :func:`on_transfer_accepted`)
and of the admitting centre from its own ``LegalCaseRegistered`` (the :class:`CaseCustody` projection, inline in
the registration's transaction). Both are recorded in ``case_custody`` (harbour.custody), the one source the
access rules decide on; ``legal_cases.centre`` (the case list, the deadline list) is kept equal to the holder.

A former holder reads the residence file and the proceedings as they stood when it handed the case over:
:func:`events_until` gives the streams' events recorded up to ``held_until``, and the read endpoints build their
answer from those, so no fact recorded after the hand-over reaches it, whatever read model it asks.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import schemas.tracks  # noqa: F401 - registers tracks' event types so TransferAccepted can be decoded
from harbour import custody
from harbour.commands import queue
from harbour.events import EVENT_TYPES, DomainEvent
from harbour.kafka.consumer import HandlerContext
from harbour.projection import Projection
from harbour.store import RecordedEvent
from schemas.legal import LegalCaseRegistered
from schemas.tracks import TransferAccepted
from services.legal.commands import case_queue


async def _lock_case(conn: Any, case_id: str) -> None:
    # In the queue of the case's commands (services.legal.commands.case_queue): a former holder's command either
    # commits before the hand-over or is judged after it, never half-way.
    await queue(conn, case_queue(case_id))


async def follow_holder(conn: Any, case_id: str) -> None:
    """Set ``legal_cases.centre`` to the centre that holds the case now (a no-op while legal does not follow it)."""
    held = await custody.load(conn, case_id)
    if held is not None:
        await conn.execute(
            "UPDATE legal_cases SET centre = $2 WHERE case_id = $1 AND centre <> $2", case_id, held.centre
        )


async def on_transfer_accepted(ctx: HandlerContext, event: RecordedEvent) -> None:
    """Tracks accepted a transfer: from now on the receiving centre holds the residence file and proceedings.

    ``seq`` is the version of the acceptance in the track's stream, so a redelivered or late older transfer is
    the same period or an earlier one and never moves the case back. Recorded even for a case legal does not
    follow yet (the topics are not ordered among each other): the registration then finds its holder."""
    accepted = event.event
    assert isinstance(accepted, TransferAccepted)
    await _lock_case(ctx.conn, accepted.case_id)
    await custody.hand_over(ctx.conn, accepted.case_id, to_centre=accepted.to_centre.value,
                            seq=event.stream_version, on=accepted.accepted_on)  # fmt: skip
    await follow_holder(ctx.conn, accepted.case_id)


class CaseCustody(Projection):
    """The admitting centre's custody period, from the registration (inline, after ``LegalCases``).

    No table of its own to empty: ``case_custody`` also holds the transfers the inbox applied, which no replay of
    this service's events could bring back. Admission is idempotent, so a rebuild replays it harmlessly and
    puts ``legal_cases.centre`` back on the holder after ``LegalCases`` rebuilt it from the registration."""

    name = "legal_custody"
    tables = ()

    async def on_LegalCaseRegistered(self, conn: Any, recorded: RecordedEvent) -> None:
        event = recorded.event
        assert isinstance(event, LegalCaseRegistered)
        await custody.admit(conn, event.case_id, event.centre, event.opened_on)
        await follow_holder(conn, event.case_id)


CASE_CUSTODY = CaseCustody()


async def holder_of(conn: Any, case_id: str, fallback: str) -> custody.Custody:
    """The case's custody; a case registered before custody was kept (no row) is held by its registered centre."""
    held = await custody.load(conn, case_id)
    if held is not None:
        return held
    return custody.Custody(case_id, (custody.Period(fallback, 0, date.min, datetime.min.replace(tzinfo=UTC)),))


async def events_until(conn: Any, stream_id: str, until: datetime | None) -> tuple[int, list[DomainEvent]]:
    """The stream's version and events as recorded up to ``until`` (all of them when None)."""
    rows = await conn.fetch(
        """SELECT stream_version, event_type, schema_version, payload::text AS payload FROM events
           WHERE stream_id = $1 AND ($2::timestamptz IS NULL OR recorded_at <= $2) ORDER BY stream_version""",
        stream_id, until,
    )  # fmt: skip
    events = [EVENT_TYPES.decode(r["event_type"], r["schema_version"], json.loads(r["payload"])) for r in rows]
    return (rows[-1]["stream_version"] if rows else 0), events
