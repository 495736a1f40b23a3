"""Plan-review timers follow from the track's own events, in the transaction that appends them.

``TrackOpened``, ``PlanReviewed`` and ``TrackReopened`` carry the next review's due date (the domain computes
it); each replaces the track's pending review timers with a reminder and an overdue timer for that date.
``TrackClosed`` cancels them. Every save of a track goes through ``services.tracks.commands.save_track``, which
calls :func:`follow_review_deadlines`, so no path can append one of these events without its timers (or leave
stale ones behind to nag about a closed track).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any

from harbour import timers
from harbour.clock import local_moment
from harbour.store import RecordedEvent
from schemas.tracks import PlanReviewed, TrackClosed, TrackOpened, TrackReopened
from services.tracks.domain import DEFAULT_REMINDER_DAYS_BEFORE, review_deadlines

REMINDER = "tracks.plan-review.reminder"
OVERDUE = "tracks.plan-review.overdue"
# Centres work office hours: a deadline day's timer fires at 08:00 Brussels time, not at midnight UTC.
FIRES_AT = time(8, 0)


def at_office_opening(day: date) -> datetime:
    return local_moment(day, FIRES_AT)


def _prefix(case_id: str) -> str:
    return f"track:{case_id}:plan-review:"


def timer_key(case_id: str, review_due: date, kind: str) -> str:
    # The due date is part of the key: a fired key never fires again, and a later review has a later date.
    return f"{_prefix(case_id)}{review_due.isoformat()}:{kind.rpartition('.')[2]}"


async def schedule_review(
    conn: Any, case_id: str, review_due: date, *, reminder_days_before: int = DEFAULT_REMINDER_DAYS_BEFORE
) -> None:
    await timers.cancel_prefix(conn, _prefix(case_id))  # the previous due date's timers are moot now
    deadlines = review_deadlines(review_due, reminder_days_before=reminder_days_before)
    payload = {"review_due": review_due.isoformat()}
    for kind, day in ((REMINDER, deadlines.remind_on), (OVERDUE, deadlines.overdue_on)):
        await timers.schedule(conn, key=timer_key(case_id, review_due, kind), kind=kind,
                              due_at=at_office_opening(day), case_id=case_id, payload=payload)  # fmt: skip


async def follow_review_deadlines(conn: Any, recorded: Sequence[RecordedEvent]) -> None:
    for r in recorded:
        event = r.event
        match event:
            case TrackOpened():
                await schedule_review(conn, r.case_id, event.first_review_due)
            case PlanReviewed() | TrackReopened():
                await schedule_review(conn, r.case_id, event.next_review_due)
            case TrackClosed():
                await timers.cancel_prefix(conn, _prefix(r.case_id))
