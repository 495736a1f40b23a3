"""The bodies of the tracks API: the commands' requests (unknown fields are a 422), and the views it answers,
never with personal data in clear (except the two audited reads of sealed words, :class:`SealedText`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.tracks import (
    COMPLETED,
    EarlyClosureReason,
    Phase,
    SessionKind,
    SupportArea,
    TransferDeclineReason,
    TransferReason,
)
from schemas.tracks import Centre as CentreId
from services.tracks.domain import MAX_SESSION_MINUTES, Track
from services.tracks.handlers import UNASSIGNED

# --- requests -----------------------------------------------------------------------------------------------

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # The version the client last saw; a stale one is a 409 instead of a decision on an outdated track.
    expected_version: int | None = Field(default=None, ge=0)


class AssignCaseworker(Command):
    caseworker_id: Id


class ChangePhase(Command):
    to: Phase  # the domain explains why only "guidance" can be entered this way


class SetGoal(Command):
    goal_id: Id | None = None  # chosen by the server when absent
    area: SupportArea
    target_date: date
    own_words: Text  # the person's own words about the goal: sealed, never stored in clear


class Dated(Command):
    on: date | None = None  # the day it happened, when recorded later; default today (where the case is)


class DropGoal(Dated):
    reason: Text  # sealed: why the person and the caseworker let the goal go


class RecordSession(Command):
    session_id: Id | None = None
    held_on: date
    area: SupportArea
    kind: SessionKind
    duration_minutes: int = Field(gt=0, le=MAX_SESSION_MINUTES)
    attended: bool
    notes: Text | None = None  # sealed


class RequestTransfer(Command):
    to_centre: CentreId
    reason: TransferReason


class AcceptTransfer(Command):
    caseworker_id: Id = UNASSIGNED  # the receiving centre's caseworker, or assigned later by its manager


class DeclineTransfer(Command):
    reason: TransferDeclineReason


class CloseTrack(Dated):
    reason: Literal["completed"] | EarlyClosureReason = COMPLETED


class ReopenTrack(Command):
    reason: Text  # sealed


# --- views --------------------------------------------------------------------------------------------------


class GoalView(BaseModel):
    goal_id: str
    area: str
    status: str
    target_date: date
    set_on: date
    flagged_because: list[str]


class TransferView(BaseModel):
    from_centre: str
    to_centre: str
    reason: str
    requested_on: date


class TrackView(BaseModel):
    case_id: str
    version: int  # send it back as expected_version to be told (409) when someone else changed the track
    owning_centre: str
    # None for a former owner: the caseworker now guiding the person works at another centre
    caseworker_id: str | None
    phase: str
    opened_on: date
    closed: bool
    closed_on: date | None
    closure_reason: str | None
    next_review_due: date | None
    last_reviewed_on: date | None
    review_overdue: bool
    goals: list[GoalView]
    sessions_recorded: int
    pending_transfer: TransferView | None
    legal_status: str | None
    proceedings_concluded: bool
    residence_settled: bool
    housing_secured: bool
    # True when the caller is a former owner seeing the track as it was when it handed it over
    as_former_owner: bool = False


def track_view(track: Track, *, as_former_owner: bool = False) -> TrackView:
    assert track.owning_centre is not None and track.phase is not None and track.opened_on is not None
    pending = track.pending_transfer
    return TrackView(
        case_id=track.id,
        version=track.version,
        owning_centre=track.owning_centre,
        caseworker_id=None if as_former_owner else track.caseworker_id,
        phase=track.phase,
        opened_on=track.opened_on,
        closed=track.closed,
        closed_on=track.closed_on,
        closure_reason=None if track.closure_reason is None else str(track.closure_reason),
        next_review_due=track.next_review_due,
        last_reviewed_on=track.last_reviewed_on,
        review_overdue=track.next_review_due is not None and track.overdue_for == track.next_review_due,
        goals=[
            GoalView(
                goal_id=g.goal_id,
                area=g.area,
                status=g.status,
                target_date=g.target_date,
                set_on=g.set_on,
                flagged_because=sorted(g.flags),
            )
            for g in track.goals.values()
        ],
        sessions_recorded=len(track.session_ids),
        pending_transfer=None
        if pending is None
        else TransferView(
            from_centre=pending.from_centre,
            to_centre=pending.to_centre,
            reason=pending.reason,
            requested_on=pending.requested_on,
        ),
        legal_status=track.legal_status,
        proceedings_concluded=track.proceedings_concluded,
        residence_settled=track.residence_settled,
        housing_secured=track.housing_secured,
        as_former_owner=as_former_owner,
    )


class TimelineEntry(BaseModel):
    version: int
    event_type: str
    occurred_at: datetime
    by: str | None  # the organisation that caused it ("harbour" for reactions to other services' events)
    facts: dict[str, Any]  # the event's fields; sealed ones are only named in ``sealed_fields``


class Timeline(BaseModel):
    """A page of a track's timeline, oldest first."""

    case_id: str
    items: list[TimelineEntry]
    next: str | None = Field(description="pass as ?after= for the next page; null on the last page")


class CaseloadTrack(BaseModel):
    case_id: str
    phase: str
    opened_on: date
    next_review_due: date | None
    review_overdue: bool
    pending_transfer_to: str | None
    flagged_goals: int


class Caseload(BaseModel):
    """A page of a caseworker's open tracks, with counts over the whole caseload (the same on every page)."""

    centre: str
    caseworker_id: str
    items: list[CaseloadTrack]  # the open tracks, next review due first
    next: str | None = Field(description="pass as ?after= for the next page; null on the last page")
    overdue_reviews: int = Field(ge=0, description="open tracks whose plan review is overdue, in the whole caseload")
    goals_by_area: dict[str, dict[str, int]]  # area -> status -> count, over all the open tracks


class IncomingTransfer(BaseModel):
    case_id: str
    from_centre: str


class IncomingTransfers(BaseModel):
    items: list[IncomingTransfer]
    next: str | None = Field(description="pass as ?after= for the next page; null on the last page")


class TransferDeclinedView(BaseModel):
    case_id: str
    declined_by: str
    reason: str


class SealedText(BaseModel):
    """Words of or about the person: shown only to a stated purpose, and every read is audited."""

    case_id: str
    ref: str  # the session or goal id
    texts: dict[str, str | None]  # field -> clear text, harbour.pii.ERASED, or None when never written
    erased: bool


class Created(BaseModel):
    id: str
    track: TrackView
