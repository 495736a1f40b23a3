"""Read models of the tracks service, updated inline in the appending transaction (read-your-writes).

Deterministic from the events alone, so ``harbour rebuild`` gives the same rows. No personal data: the
sealed words of a goal, a session or a reopening stay in the events, readable only through the audited API.
"""

from __future__ import annotations

import json
from typing import Any

from harbour.projection import Projection
from harbour.store import RecordedEvent
from schemas.tracks import (
    CaseworkerAssigned,
    GoalDropped,
    GoalFlaggedForReview,
    GoalSet,
    LegalStatusNoted,
    PhaseChanged,
    PlanReviewed,
    PlanReviewOverdue,
    TrackClosed,
    TrackOpened,
    TrackReopened,
    TransferAccepted,
    TransferRequested,
)


async def _set(conn: Any, event: RecordedEvent, **columns: Any) -> None:
    """Update columns of the summary row of the event's track (names are ours, never input)."""
    assignments = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(columns))
    await conn.execute(f"UPDATE track_summary SET {assignments} WHERE case_id = $1", event.case_id,
                       *columns.values())  # fmt: skip


async def _goal_status(conn: Any, event: RecordedEvent, status: str) -> None:
    await conn.execute(
        "UPDATE track_goals SET status = $3, flagged = false WHERE case_id = $1 AND goal_id = $2",
        event.case_id,
        event.payload["goal_id"],
        status,
    )


class TrackSummaries(Projection):
    """One row per track and one per goal: what a caseworker's caseload is built from."""

    name = "track_summary"
    tables = ("track_summary", "track_goals")

    async def handle(self, conn: Any, event: RecordedEvent) -> None:
        await super().handle(conn, event)
        if event.stream_type == "track":  # the version a caller may send back as expected_version
            await conn.execute("UPDATE track_summary SET version = $2 WHERE case_id = $1", event.case_id,
                               event.stream_version)  # fmt: skip

    async def on_TrackOpened(self, conn: Any, r: RecordedEvent) -> None:
        e = r.event
        assert isinstance(e, TrackOpened)
        await conn.execute(
            """INSERT INTO track_summary (case_id, person_id, centre, caseworker_id, phase, opened_on,
                                          next_review_due, version)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
            e.case_id, e.person_id, e.centre.value, e.caseworker_id, e.phase.value, e.opened_on,
            e.first_review_due, r.stream_version,
        )  # fmt: skip

    async def on_CaseworkerAssigned(self, conn: Any, r: RecordedEvent) -> None:
        e = r.event
        assert isinstance(e, CaseworkerAssigned)
        await _set(conn, r, caseworker_id=e.caseworker_id)

    async def on_PhaseChanged(self, conn: Any, r: RecordedEvent) -> None:
        e = r.event
        assert isinstance(e, PhaseChanged)
        await _set(conn, r, phase=e.to_phase.value)

    async def on_TrackClosed(self, conn: Any, r: RecordedEvent) -> None:
        e = r.event
        assert isinstance(e, TrackClosed)
        await _set(conn, r, closed=True, closure_reason=str(e.reason), phase="aftercare", next_review_due=None,
                   review_overdue_since=None)  # fmt: skip

    async def on_TrackReopened(self, conn: Any, r: RecordedEvent) -> None:
        e = r.event
        assert isinstance(e, TrackReopened)
        await _set(conn, r, closed=False, closure_reason=None, phase="guidance", next_review_due=e.next_review_due,
                   review_overdue_since=None)  # fmt: skip

    async def on_PlanReviewed(self, conn: Any, r: RecordedEvent) -> None:
        e = r.event
        assert isinstance(e, PlanReviewed)
        await _set(conn, r, next_review_due=e.next_review_due, review_overdue_since=None)
        await conn.execute("UPDATE track_goals SET flagged = false WHERE case_id = $1", r.case_id)

    async def on_PlanReviewOverdue(self, conn: Any, r: RecordedEvent) -> None:
        e = r.event
        assert isinstance(e, PlanReviewOverdue)
        await _set(conn, r, review_overdue_since=e.review_due)

    async def on_GoalSet(self, conn: Any, r: RecordedEvent) -> None:
        e = r.event
        assert isinstance(e, GoalSet)
        await conn.execute(
            """INSERT INTO track_goals (case_id, goal_id, area, status, target_date)
               VALUES ($1, $2, $3, 'planned', $4)""",
            e.case_id, e.goal_id, e.area.value, e.target_date,
        )  # fmt: skip

    async def on_GoalProgressed(self, conn: Any, r: RecordedEvent) -> None:
        await conn.execute(
            "UPDATE track_goals SET status = 'in-progress' WHERE case_id = $1 AND goal_id = $2",
            r.case_id,
            r.payload["goal_id"],
        )

    async def on_GoalAchieved(self, conn: Any, r: RecordedEvent) -> None:
        await _goal_status(conn, r, "achieved")

    async def on_GoalDropped(self, conn: Any, r: RecordedEvent) -> None:
        assert isinstance(r.event, GoalDropped)
        await _goal_status(conn, r, "dropped")

    async def on_GoalFlaggedForReview(self, conn: Any, r: RecordedEvent) -> None:
        e = r.event
        assert isinstance(e, GoalFlaggedForReview)
        await conn.execute(
            "UPDATE track_goals SET flagged = true WHERE case_id = $1 AND goal_id = $2", e.case_id, e.goal_id
        )

    async def on_TransferRequested(self, conn: Any, r: RecordedEvent) -> None:
        e = r.event
        assert isinstance(e, TransferRequested)
        await _set(conn, r, pending_transfer_to=e.to_centre.value)

    async def on_TransferAccepted(self, conn: Any, r: RecordedEvent) -> None:
        e = r.event
        assert isinstance(e, TransferAccepted)
        await _set(conn, r, centre=e.to_centre.value, caseworker_id=e.caseworker_id, pending_transfer_to=None)

    async def on_TransferDeclined(self, conn: Any, r: RecordedEvent) -> None:
        await _set(conn, r, pending_transfer_to=None)

    async def on_TransferWithdrawn(self, conn: Any, r: RecordedEvent) -> None:
        await _set(conn, r, pending_transfer_to=None)

    async def on_LegalStatusNoted(self, conn: Any, r: RecordedEvent) -> None:
        e = r.event
        assert isinstance(e, LegalStatusNoted)
        await _set(conn, r, legal_status=e.status.value)

    async def on_ProceedingsConcludedNoted(self, conn: Any, r: RecordedEvent) -> None:
        await _set(conn, r, proceedings_concluded=True)

    async def on_ResidenceSettledNoted(self, conn: Any, r: RecordedEvent) -> None:
        await _set(conn, r, residence_settled=True)

    async def on_HousingSecuredNoted(self, conn: Any, r: RecordedEvent) -> None:
        await _set(conn, r, housing_secured=True)


def _is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and {"person_id", "nonce", "ciphertext"} <= value.keys()


def timeline_facts(payload: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The payload without its sealed values (even ciphertext has no place on a screen), and their names."""
    facts = {k: v for k, v in payload.items() if not _is_sealed(v) and k != "case_id"}
    sealed = sorted(k for k, v in payload.items() if _is_sealed(v))
    return facts, sealed


class TrackTimelines(Projection):
    """Every event of every track, in stream order: the person's timeline, filtered per reader by version."""

    name = "track_timeline"
    tables = ("track_timeline",)

    async def handle(self, conn: Any, event: RecordedEvent) -> None:
        if event.stream_type != "track":
            return
        facts, sealed = timeline_facts(event.payload)
        await conn.execute(
            """INSERT INTO track_timeline (case_id, version, event_id, event_type, occurred_at, actor_org, facts)
               VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb)""",
            event.case_id, event.stream_version, event.event_id, event.event_type, event.occurred_at,
            event.actor.org, json.dumps({**facts, "sealed_fields": sealed}, default=str),
        )  # fmt: skip


PROJECTIONS: list[Projection] = [TrackSummaries(), TrackTimelines()]
