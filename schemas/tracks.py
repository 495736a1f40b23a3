"""Published contracts of the tracks service (topic ``tracks.events.v1``, keyed by case id).

Events name the case by ``case_id`` and people by id. Anything written about the person in free text
(their own words about a goal, session notes, why a goal was dropped or a track reopened) is a
:class:`harbour.pii.Sealed` value, so erasing the person's key makes it unreadable everywhere at once.
Reasons that statistics and other services must understand are closed code lists instead.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar, Final, Literal

from harbour.events import DomainEvent
from harbour.pii import Sealed

# One code list for the centres, re-exported here: a track opens from intake's CaseOpened.centre
from schemas.intake import Centre as Centre


class SupportArea(StrEnum):
    PSYCHOSOCIAL = "psychosocial"
    ADMINISTRATIVE = "administrative"
    JURIDICAL = "juridical"
    HOUSING = "housing"


class Phase(StrEnum):
    REFLECTION_PERIOD = "reflection-period"
    GUIDANCE = "guidance"
    AFTERCARE = "aftercare"


class GoalStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in-progress"
    ACHIEVED = "achieved"
    DROPPED = "dropped"


class SessionKind(StrEnum):
    CONVERSATION = "conversation"
    ACCOMPANIMENT = "accompaniment"  # accompanying the person to an appointment
    HOME_VISIT = "home-visit"
    PHONE = "phone"


class EarlyClosureReason(StrEnum):
    RETURNED_TO_COUNTRY_OF_ORIGIN = "returned-to-country-of-origin"
    LOST_CONTACT = "lost-contact"
    PERSON_ENDED_GUIDANCE = "person-ended-guidance"
    DECEASED = "deceased"


# A track closed by the normal route; every other closure names an EarlyClosureReason.
COMPLETED: Final = "completed"
ClosureReason = Literal["completed"] | EarlyClosureReason


class TransferReason(StrEnum):
    PERSON_RELOCATED = "person-relocated"
    SAFETY = "safety"  # the person must leave a region where the exploiters are
    LANGUAGE = "language"
    SPECIALISED_SUPPORT = "specialised-support"


class TransferDeclineReason(StrEnum):
    NO_CAPACITY = "no-capacity"
    OUTSIDE_REGION = "outside-region"
    SPECIALISED_CARE_NEEDED = "specialised-care-needed"  # e.g. a minor belongs with a youth centre
    HANDOVER_INCOMPLETE = "handover-incomplete"


class LegalStatus(StrEnum):
    """What the legal service reported about the victim status, as far as the track needs it."""

    GRANTED = "granted"
    ENDED = "ended"


class GoalFlagReason(StrEnum):
    """Why a goal should be looked at again at the next plan review."""

    STATUS_GRANTED = "status-granted"
    STATUS_ENDED = "status-ended"
    PROCEEDINGS_CONCLUDED = "proceedings-concluded"
    RESIDENCE_SETTLED = "residence-settled"
    HOUSING_SECURED = "housing-secured"


# --- track lifecycle -------------------------------------------------------------------------------


class TrackOpened(DomainEvent):
    event_type: ClassVar[str] = "TrackOpened"
    case_id: str
    # intake's pseudonymous person id: the key every sealed value of this track is sealed (and erased) under
    person_id: str
    centre: Centre
    caseworker_id: str
    phase: Phase
    opened_on: date
    # stored, not recomputed on replay, so a later change of the interval setting never moves old deadlines
    first_review_due: date


class CaseworkerAssigned(DomainEvent):
    event_type: ClassVar[str] = "CaseworkerAssigned"
    case_id: str
    caseworker_id: str
    assigned_on: date


class PhaseChanged(DomainEvent):
    event_type: ClassVar[str] = "PhaseChanged"
    case_id: str
    from_phase: Phase
    to_phase: Phase
    changed_on: date


class TrackClosed(DomainEvent):
    event_type: ClassVar[str] = "TrackClosed"
    case_id: str
    reason: ClosureReason
    closed_on: date


class TrackReopened(DomainEvent):
    event_type: ClassVar[str] = "TrackReopened"
    case_id: str
    reason: Sealed
    reopened_on: date
    next_review_due: date


# --- individual support plan -----------------------------------------------------------------------


class GoalSet(DomainEvent):
    event_type: ClassVar[str] = "GoalSet"
    case_id: str
    goal_id: str
    area: SupportArea
    target_date: date
    own_words: Sealed
    set_on: date


class GoalProgressed(DomainEvent):
    """The goal moved from planned to in progress."""

    event_type: ClassVar[str] = "GoalProgressed"
    case_id: str
    goal_id: str
    progressed_on: date


class GoalAchieved(DomainEvent):
    event_type: ClassVar[str] = "GoalAchieved"
    case_id: str
    goal_id: str
    achieved_on: date


class GoalDropped(DomainEvent):
    event_type: ClassVar[str] = "GoalDropped"
    case_id: str
    goal_id: str
    reason: Sealed
    dropped_on: date


class GoalFlaggedForReview(DomainEvent):
    """Another service reported a fact touching this goal; the plan itself is left to the person and caseworker."""

    event_type: ClassVar[str] = "GoalFlaggedForReview"
    case_id: str
    goal_id: str
    because: GoalFlagReason


class PlanReviewed(DomainEvent):
    event_type: ClassVar[str] = "PlanReviewed"
    case_id: str
    reviewed_on: date
    next_review_due: date


class PlanReviewReminderDue(DomainEvent):
    event_type: ClassVar[str] = "PlanReviewReminderDue"
    case_id: str
    review_due: date


class PlanReviewOverdue(DomainEvent):
    event_type: ClassVar[str] = "PlanReviewOverdue"
    case_id: str
    review_due: date


# --- sessions --------------------------------------------------------------------------------------


class SessionRecorded(DomainEvent):
    event_type: ClassVar[str] = "SessionRecorded"
    case_id: str
    session_id: str
    held_on: date
    area: SupportArea
    kind: SessionKind
    duration_minutes: int
    attended: bool
    notes: Sealed | None = None


# --- transfer between centres ----------------------------------------------------------------------


class TransferRequested(DomainEvent):
    event_type: ClassVar[str] = "TransferRequested"
    case_id: str
    from_centre: Centre
    to_centre: Centre
    reason: TransferReason
    requested_on: date


class TransferAccepted(DomainEvent):
    event_type: ClassVar[str] = "TransferAccepted"
    case_id: str
    from_centre: Centre
    to_centre: Centre
    # the former centre's caseworker cannot keep guiding the person from another region
    caseworker_id: str
    accepted_on: date


class TransferDeclined(DomainEvent):
    event_type: ClassVar[str] = "TransferDeclined"
    case_id: str
    from_centre: Centre
    to_centre: Centre
    reason: TransferDeclineReason
    declined_on: date


class TransferWithdrawn(DomainEvent):
    """The owning centre took its request back (the person stayed), so a new one may be made later."""

    event_type: ClassVar[str] = "TransferWithdrawn"
    case_id: str
    from_centre: Centre
    to_centre: Centre
    withdrawn_on: date


# --- facts reported by the legal and housing services ----------------------------------------------


class LegalStatusNoted(DomainEvent):
    event_type: ClassVar[str] = "LegalStatusNoted"
    case_id: str
    status: LegalStatus
    noted_on: date


class ProceedingsConcludedNoted(DomainEvent):
    event_type: ClassVar[str] = "ProceedingsConcludedNoted"
    case_id: str
    noted_on: date


class ResidenceSettledNoted(DomainEvent):
    event_type: ClassVar[str] = "ResidenceSettledNoted"
    case_id: str
    noted_on: date


class HousingSecuredNoted(DomainEvent):
    event_type: ClassVar[str] = "HousingSecuredNoted"
    case_id: str
    noted_on: date


# Every event the tracks service stores and publishes on tracks.events.v1 (its AsyncAPI document).
TRACK_EVENTS: tuple[type[DomainEvent], ...] = (
    TrackOpened,
    CaseworkerAssigned,
    PhaseChanged,
    TrackClosed,
    TrackReopened,
    GoalSet,
    GoalProgressed,
    GoalAchieved,
    GoalDropped,
    GoalFlaggedForReview,
    PlanReviewed,
    PlanReviewReminderDue,
    PlanReviewOverdue,
    SessionRecorded,
    TransferRequested,
    TransferAccepted,
    TransferDeclined,
    TransferWithdrawn,
    LegalStatusNoted,
    ProceedingsConcludedNoted,
    ResidenceSettledNoted,
    HousingSecuredNoted,
)
