"""The guidance track: one person's support by one centre at a time, from admission to aftercare.

Pure: dates and "today" are arguments; personal free text arrives already sealed (the caller seals it
with the event id as associated data and passes that ``event_id`` along).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from enum import StrEnum
from typing import TypeVar
from uuid import UUID

from harbour.aggregate import Aggregate
from harbour.dates import add_months
from harbour.errors import RuleViolation
from harbour.events import DomainEvent
from harbour.pii import Sealed
from schemas.tracks import (
    COMPLETED,
    CaseworkerAssigned,
    Centre,
    ClosureReason,
    EarlyClosureReason,
    GoalAchieved,
    GoalDropped,
    GoalFlaggedForReview,
    GoalFlagReason,
    GoalProgressed,
    GoalSet,
    GoalStatus,
    HousingSecuredNoted,
    LegalStatus,
    LegalStatusNoted,
    Phase,
    PhaseChanged,
    PlanReviewed,
    PlanReviewOverdue,
    PlanReviewReminderDue,
    ProceedingsConcludedNoted,
    ResidenceSettledNoted,
    SessionKind,
    SessionRecorded,
    SupportArea,
    TrackClosed,
    TrackOpened,
    TrackReopened,
    TransferAccepted,
    TransferDeclined,
    TransferDeclineReason,
    TransferReason,
    TransferRequested,
    TransferWithdrawn,
)

DEFAULT_REVIEW_INTERVAL_MONTHS = 3
DEFAULT_REMINDER_DAYS_BEFORE = 14
MAX_SESSION_MINUTES = 24 * 60  # a whole-day accompaniment is the longest plausible session

_A = SupportArea
# Which goals a fact reported by another service touches. The track only flags them: what the fact
# means for the person's plan is decided with the person at the next review, never silently here.
FLAGGED_AREAS: dict[GoalFlagReason, frozenset[SupportArea]] = {
    GoalFlagReason.STATUS_GRANTED: frozenset({_A.ADMINISTRATIVE, _A.JURIDICAL}),
    GoalFlagReason.STATUS_ENDED: frozenset({_A.ADMINISTRATIVE, _A.JURIDICAL, _A.HOUSING}),
    GoalFlagReason.PROCEEDINGS_CONCLUDED: frozenset({_A.JURIDICAL}),
    GoalFlagReason.RESIDENCE_SETTLED: frozenset({_A.ADMINISTRATIVE, _A.JURIDICAL}),
    GoalFlagReason.HOUSING_SECURED: frozenset({_A.HOUSING}),
}


# --- pure deadline functions (the durable timers schedule from these) ------------------------------


def next_review_due(after: date, *, interval_months: int = DEFAULT_REVIEW_INTERVAL_MONTHS) -> date:
    """The date the next plan review is due, counted from the opening or the last review."""
    if interval_months < 1:
        raise RuleViolation("the review interval must be at least one month", field="review_interval_months")
    return add_months(after, interval_months)


@dataclass(frozen=True)
class ReviewDeadlines:
    due: date
    remind_on: date  # PlanReviewReminderDue fires on this day
    overdue_on: date  # PlanReviewOverdue fires on this day: the day after the review was due


def review_deadlines(due: date, *, reminder_days_before: int = DEFAULT_REMINDER_DAYS_BEFORE) -> ReviewDeadlines:
    if reminder_days_before < 0:
        raise RuleViolation("a reminder cannot come after the due date", field="reminder_days_before")
    return ReviewDeadlines(due, due - timedelta(days=reminder_days_before), due + timedelta(days=1))


# --- state -----------------------------------------------------------------------------------------


@dataclass
class Goal:
    goal_id: str
    area: SupportArea
    target_date: date
    set_on: date
    status: GoalStatus = GoalStatus.PLANNED
    flags: set[GoalFlagReason] = field(default_factory=set)

    @property
    def is_open(self) -> bool:
        return self.status in (GoalStatus.PLANNED, GoalStatus.IN_PROGRESS)


@dataclass(frozen=True)
class PendingTransfer:
    from_centre: Centre
    to_centre: Centre
    reason: TransferReason
    requested_on: date


@dataclass(frozen=True)
class OwnershipPeriod:
    """A centre owned the track from this stream version up to and including ``until_version``."""

    centre: Centre
    from_version: int
    until_version: int | None = None  # None: the current owner


@dataclass(frozen=True)
class FormerOwnership:
    centre: Centre
    lost_at_version: int  # the version of the TransferAccepted event that ended its ownership


_E = TypeVar("_E", bound=StrEnum)


def _code(kind: type[_E], value: str, field: str) -> _E:
    """Closed code lists: an unknown value is a rule breach naming the field, not a crash."""
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(kind)
        raise RuleViolation(f"{value!r} is not one of: {allowed}", field=field) from None


def _required(value: str, field: str) -> str:
    if not value.strip():
        raise RuleViolation(f"{field} is required", field=field)
    return value


class Track(Aggregate):
    stream_type = "track"  # id = case id, so every service keys the same person's events alike

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.person_id: str | None = None
        self.phase: Phase | None = None
        self.caseworker_id: str | None = None
        self.opened_on: date | None = None
        self.closed = False
        self.closed_on: date | None = None
        self.closure_reason: ClosureReason | None = None
        self.goals: dict[str, Goal] = {}
        self.session_ids: set[str] = set()
        self.next_review_due: date | None = None
        self.last_reviewed_on: date | None = None
        self.reminded_for: date | None = None
        self.overdue_for: date | None = None
        self.pending_transfer: PendingTransfer | None = None
        self.ownership: list[OwnershipPeriod] = []
        self.legal_status: LegalStatus | None = None
        self.proceedings_concluded = False
        self.residence_settled = False
        self.housing_secured = False

    @property
    def case_id(self) -> str:
        return self.id

    @property
    def owning_centre(self) -> Centre | None:
        return self.ownership[-1].centre if self.ownership else None

    @property
    def former_centres(self) -> list[FormerOwnership]:
        return [FormerOwnership(p.centre, p.until_version) for p in self.ownership if p.until_version]

    def may_read(self, centre: Centre, version: int) -> bool:
        """The owner reads the whole track; a former owner what it could read while it owned it, up to its last
        hand-over (the history it received included, as ``GET /tracks/{case}`` shows it the track as handed over)
        and nothing recorded after: the custody promise of every service (tests/support/custody_contract.py)."""
        if centre == self.owning_centre:
            return True
        ends = [p.until_version for p in self.ownership if p.centre == centre and p.until_version]
        return bool(ends) and version <= max(ends)

    @property
    def goals_flagged_for_review(self) -> list[Goal]:
        return [g for g in self.goals.values() if g.is_open and g.flags]

    # --- guards ---------------------------------------------------------------------------------

    def _require_open_track(self) -> None:
        if not self.exists:
            raise RuleViolation("the track has not been opened", field="case_id")
        if self.closed:
            raise RuleViolation("a closed track can only be reopened", field="status")

    def _not_before_opening(self, on: date, field: str = "on") -> None:
        if self.opened_on is not None and on < self.opened_on:
            raise RuleViolation("the date is before the track was opened", field=field)

    def _check_sealed(self, sealed: Sealed | None, field: str) -> None:
        # A value sealed under another person's key would survive this person's erasure: refuse it.
        if sealed is not None and sealed.person_id != self.person_id:
            raise RuleViolation("the text is not sealed under this track's person", field=field)

    def _goal(self, goal_id: str, on: date) -> Goal:
        self._require_open_track()
        goal = self.goals.get(goal_id)
        if goal is None:
            raise RuleViolation(f"no goal {goal_id!r} in this plan", field="goal_id")
        if not goal.is_open:
            raise RuleViolation(f"the goal is already {goal.status}; it can no longer change", field="status")
        if on < goal.set_on:
            raise RuleViolation("the date is before the goal was set", field="on")
        return goal

    def _position(self) -> int:
        # apply() runs before _record queues the event and before replay bumps the version,
        # so the event being applied sits right after everything counted so far
        return self.version + len(self._pending) + 1

    # --- lifecycle ------------------------------------------------------------------------------

    def open(
        self,
        *,
        centre: str,
        person_id: str,
        caseworker_id: str,
        opened_on: date,
        review_interval_months: int = DEFAULT_REVIEW_INTERVAL_MONTHS,
    ) -> None:
        if self.exists:
            raise RuleViolation("the track is already open", field="case_id")
        owner = _code(Centre, centre, "centre")
        due = next_review_due(opened_on, interval_months=review_interval_months)
        self._record(
            TrackOpened(
                case_id=self.id,
                person_id=_required(person_id, "person_id"),
                centre=owner,
                caseworker_id=_required(caseworker_id, "caseworker_id"),
                phase=Phase.REFLECTION_PERIOD,
                opened_on=opened_on,
                first_review_due=due,
            )
        )

    def assign_caseworker(self, *, caseworker_id: str, on: date) -> None:
        self._require_open_track()
        self._not_before_opening(on)
        if _required(caseworker_id, "caseworker_id") == self.caseworker_id:
            raise RuleViolation("this caseworker is already assigned", field="caseworker_id")
        self._record(CaseworkerAssigned(case_id=self.id, caseworker_id=caseworker_id, assigned_on=on))

    def change_phase(self, *, to: str, on: date) -> None:
        self._require_open_track()
        self._not_before_opening(on)
        target = _code(Phase, to, "to")
        if target is Phase.AFTERCARE:
            raise RuleViolation("aftercare begins by closing the track", field="to")
        if target == self.phase:
            raise RuleViolation(f"the track is already in the {target} phase", field="to")
        if target is Phase.REFLECTION_PERIOD:
            raise RuleViolation("the reflection period cannot be entered again", field="to")
        assert self.phase is not None
        self._record(PhaseChanged(case_id=self.id, from_phase=self.phase, to_phase=target, changed_on=on))

    def close(self, *, on: date, reason: str = COMPLETED) -> None:
        self._require_open_track()
        self._not_before_opening(on)
        if self.pending_transfer is not None:
            raise RuleViolation("withdraw or settle the open transfer request first", field="transfer")
        closure: ClosureReason
        if reason == COMPLETED:
            self._require_completion()
            closure = COMPLETED
        else:
            closure = _code(EarlyClosureReason, reason, "reason")
        self._record(TrackClosed(case_id=self.id, reason=closure, closed_on=on))

    def _require_completion(self) -> None:
        if not self.proceedings_concluded:
            raise RuleViolation(
                "the legal service has not reported the proceedings concluded; close early with a reason",
                field="proceedings_concluded",
            )
        if not self.residence_settled:
            raise RuleViolation(
                "the legal service has not reported the residence procedure settled", field="residence_settled"
            )
        still_open = sorted(g.goal_id for g in self.goals.values() if g.is_open)
        if still_open:
            raise RuleViolation(f"goals still open: {', '.join(still_open)}", field="goals")

    def reopen(
        self,
        *,
        reason: Sealed,
        on: date,
        review_interval_months: int = DEFAULT_REVIEW_INTERVAL_MONTHS,
        event_id: UUID | None = None,
    ) -> None:
        if not self.closed:
            raise RuleViolation("only a closed track can be reopened", field="status")
        assert self.closed_on is not None
        if on < self.closed_on:
            raise RuleViolation("the date is before the track was closed", field="on")
        self._check_sealed(reason, "reason")
        due = next_review_due(on, interval_months=review_interval_months)
        self._record(
            TrackReopened(case_id=self.id, reason=reason, reopened_on=on, next_review_due=due), event_id=event_id
        )

    # --- individual support plan ----------------------------------------------------------------

    def set_goal(
        self,
        *,
        goal_id: str,
        area: str,
        target_date: date,
        own_words: Sealed,
        on: date,
        event_id: UUID | None = None,
    ) -> None:
        self._require_open_track()
        self._not_before_opening(on)
        if _required(goal_id, "goal_id") in self.goals:
            raise RuleViolation(f"goal {goal_id!r} already exists", field="goal_id")
        if target_date < on:
            raise RuleViolation("the target date is before the goal is set", field="target_date")
        self._check_sealed(own_words, "own_words")
        event = GoalSet(
            case_id=self.id,
            goal_id=goal_id,
            area=_code(SupportArea, area, "area"),
            target_date=target_date,
            own_words=own_words,
            set_on=on,
        )
        self._record(event, event_id=event_id)

    def progress_goal(self, *, goal_id: str, on: date) -> None:
        if self._goal(goal_id, on).status is not GoalStatus.PLANNED:
            raise RuleViolation("only a planned goal can be started", field="status")
        self._record(GoalProgressed(case_id=self.id, goal_id=goal_id, progressed_on=on))

    def achieve_goal(self, *, goal_id: str, on: date) -> None:
        if self._goal(goal_id, on).status is not GoalStatus.IN_PROGRESS:
            raise RuleViolation("a goal must be in progress before it is achieved", field="status")
        self._record(GoalAchieved(case_id=self.id, goal_id=goal_id, achieved_on=on))

    def drop_goal(self, *, goal_id: str, reason: Sealed, on: date, event_id: UUID | None = None) -> None:
        self._goal(goal_id, on)
        self._check_sealed(reason, "reason")
        self._record(GoalDropped(case_id=self.id, goal_id=goal_id, reason=reason, dropped_on=on), event_id=event_id)

    def review_plan(self, *, on: date, review_interval_months: int = DEFAULT_REVIEW_INTERVAL_MONTHS) -> None:
        self._require_open_track()
        self._not_before_opening(on)
        if self.last_reviewed_on is not None and on < self.last_reviewed_on:
            raise RuleViolation("the date is before the previous review", field="on")
        due = next_review_due(on, interval_months=review_interval_months)
        self._record(PlanReviewed(case_id=self.id, reviewed_on=on, next_review_due=due))

    # Timers fire at least once and may be stale (the plan was reviewed, or the track closed, after they
    # were set). A stale or repeated firing is expected, not a breach, so it records nothing.
    def _timer_is_current(self, review_due: date) -> bool:
        return self.exists and not self.closed and self.next_review_due == review_due

    def remind_plan_review(
        self, *, review_due: date, today: date, reminder_days_before: int = DEFAULT_REMINDER_DAYS_BEFORE
    ) -> None:
        if not self._timer_is_current(review_due) or self.reminded_for == review_due:
            return
        if today < review_deadlines(review_due, reminder_days_before=reminder_days_before).remind_on:
            raise RuleViolation("the review reminder is not due yet", field="today")
        self._record(PlanReviewReminderDue(case_id=self.id, review_due=review_due))

    def mark_plan_review_overdue(self, *, review_due: date, today: date) -> None:
        if not self._timer_is_current(review_due) or self.overdue_for == review_due:
            return
        if today < review_deadlines(review_due).overdue_on:
            raise RuleViolation("the review is not overdue yet", field="today")
        self._record(PlanReviewOverdue(case_id=self.id, review_due=review_due))

    # --- sessions -------------------------------------------------------------------------------

    def record_session(
        self,
        *,
        session_id: str,
        held_on: date,
        area: str,
        kind: str,
        duration_minutes: int,
        attended: bool,
        today: date,
        notes: Sealed | None = None,
        event_id: UUID | None = None,
    ) -> None:
        self._require_open_track()
        self._not_before_opening(held_on, "held_on")
        if _required(session_id, "session_id") in self.session_ids:
            raise RuleViolation(f"session {session_id!r} is already recorded", field="session_id")
        if held_on > today:
            raise RuleViolation("a session cannot be recorded before it was held", field="held_on")
        if not 0 < duration_minutes <= MAX_SESSION_MINUTES:
            raise RuleViolation(f"duration must be 1 to {MAX_SESSION_MINUTES} minutes", field="duration_minutes")
        self._check_sealed(notes, "notes")
        event = SessionRecorded(
            case_id=self.id,
            session_id=session_id,
            held_on=held_on,
            area=_code(SupportArea, area, "area"),
            kind=_code(SessionKind, kind, "kind"),
            duration_minutes=duration_minutes,
            attended=attended,
            notes=notes,
        )
        self._record(event, event_id=event_id)

    # --- transfer between centres ---------------------------------------------------------------

    def request_transfer(self, *, by_centre: str, to_centre: str, reason: str, on: date) -> None:
        self._require_open_track()
        self._not_before_opening(on)
        owner = self.owning_centre
        assert owner is not None
        if by_centre != owner:
            raise RuleViolation("only the owning centre can request a transfer", field="centre")
        target = _code(Centre, to_centre, "to_centre")
        if target == owner:
            raise RuleViolation("a centre cannot transfer a track to itself", field="to_centre")
        if self.pending_transfer is not None:
            raise RuleViolation("a transfer request is already open", field="transfer")
        code = _code(TransferReason, reason, "reason")
        self._record(
            TransferRequested(case_id=self.id, from_centre=owner, to_centre=target, reason=code, requested_on=on)
        )

    def _answerable_transfer(self, by_centre: str, on: date) -> PendingTransfer:
        self._require_open_track()
        pending = self.pending_transfer
        if pending is None:
            raise RuleViolation("there is no open transfer request", field="transfer")
        if by_centre != pending.to_centre:
            raise RuleViolation("only the receiving centre can answer a transfer request", field="centre")
        if on < pending.requested_on:
            raise RuleViolation("the date is before the transfer was requested", field="on")
        return pending

    def accept_transfer(self, *, by_centre: str, caseworker_id: str, on: date) -> None:
        pending = self._answerable_transfer(by_centre, on)
        self._record(
            TransferAccepted(
                case_id=self.id,
                from_centre=pending.from_centre,
                to_centre=pending.to_centre,
                caseworker_id=_required(caseworker_id, "caseworker_id"),
                accepted_on=on,
            )
        )

    def decline_transfer(self, *, by_centre: str, reason: str, on: date) -> None:
        pending = self._answerable_transfer(by_centre, on)
        code = _code(TransferDeclineReason, reason, "reason")
        self._record(
            TransferDeclined(
                case_id=self.id,
                from_centre=pending.from_centre,
                to_centre=pending.to_centre,
                reason=code,
                declined_on=on,
            )
        )

    def withdraw_transfer(self, *, by_centre: str, on: date) -> None:
        self._require_open_track()
        pending = self.pending_transfer
        if pending is None:
            raise RuleViolation("there is no open transfer request", field="transfer")
        if by_centre != pending.from_centre:
            raise RuleViolation("only the requesting centre can withdraw a transfer request", field="centre")
        if on < pending.requested_on:
            raise RuleViolation("the date is before the transfer was requested", field="on")
        self._record(
            TransferWithdrawn(
                case_id=self.id, from_centre=pending.from_centre, to_centre=pending.to_centre, withdrawn_on=on
            )
        )

    # --- facts reported by the legal and housing services ---------------------------------------
    # These record another service's fact, so they are idempotent (redelivery records nothing) and
    # accepted after closure too: a track reopened later must still know the proceedings concluded.

    def note_status_granted(self, *, on: date) -> None:
        self._note_status(LegalStatus.GRANTED, GoalFlagReason.STATUS_GRANTED, on)

    def note_status_ended(self, *, on: date) -> None:
        self._note_status(LegalStatus.ENDED, GoalFlagReason.STATUS_ENDED, on)

    def _note_status(self, status: LegalStatus, flag: GoalFlagReason, on: date) -> None:
        if self._already_noted(self.legal_status == status):
            return
        self._record(LegalStatusNoted(case_id=self.id, status=status, noted_on=on))
        self._flag_goals(flag)

    def note_proceedings_concluded(self, *, on: date) -> None:
        if not self._already_noted(self.proceedings_concluded):
            self._record(ProceedingsConcludedNoted(case_id=self.id, noted_on=on))
            self._flag_goals(GoalFlagReason.PROCEEDINGS_CONCLUDED)

    def note_residence_settled(self, *, on: date) -> None:
        if not self._already_noted(self.residence_settled):
            self._record(ResidenceSettledNoted(case_id=self.id, noted_on=on))
            self._flag_goals(GoalFlagReason.RESIDENCE_SETTLED)

    def note_housing_secured(self, *, on: date) -> None:
        if not self._already_noted(self.housing_secured):
            self._record(HousingSecuredNoted(case_id=self.id, noted_on=on))
            self._flag_goals(GoalFlagReason.HOUSING_SECURED)

    def _already_noted(self, noted: bool) -> bool:
        if not self.exists:
            raise RuleViolation("the track has not been opened", field="case_id")
        return noted

    def _flag_goals(self, because: GoalFlagReason) -> None:
        if self.closed:  # a closed plan is frozen; the fact itself is kept for a reopening
            return
        for goal in self.goals.values():
            if goal.is_open and goal.area in FLAGGED_AREAS[because] and because not in goal.flags:
                self._record(GoalFlaggedForReview(case_id=self.id, goal_id=goal.goal_id, because=because))

    # --- state changes --------------------------------------------------------------------------

    def apply(self, event: DomainEvent) -> None:
        match event:
            case TrackOpened():
                self.person_id = event.person_id
                self.phase, self.caseworker_id, self.opened_on = event.phase, event.caseworker_id, event.opened_on
                self.next_review_due = event.first_review_due
                self.ownership.append(OwnershipPeriod(event.centre, self._position()))
            case CaseworkerAssigned():
                self.caseworker_id = event.caseworker_id
            case PhaseChanged():
                self.phase = event.to_phase
            case TrackClosed():
                self.closed, self.closed_on, self.closure_reason = True, event.closed_on, event.reason
                self.phase, self.next_review_due = Phase.AFTERCARE, None
            case TrackReopened():
                self.closed, self.closed_on, self.closure_reason = False, None, None
                self.phase, self.next_review_due = Phase.GUIDANCE, event.next_review_due
            case GoalSet():
                self.goals[event.goal_id] = Goal(event.goal_id, event.area, event.target_date, event.set_on)
            case GoalProgressed():
                self.goals[event.goal_id].status = GoalStatus.IN_PROGRESS
            case GoalAchieved():
                self.goals[event.goal_id].status = GoalStatus.ACHIEVED
            case GoalDropped():
                self.goals[event.goal_id].status = GoalStatus.DROPPED
            case GoalFlaggedForReview():
                self.goals[event.goal_id].flags.add(event.because)
            case PlanReviewed():
                self.last_reviewed_on, self.next_review_due = event.reviewed_on, event.next_review_due
                for goal in self.goals.values():
                    goal.flags.clear()  # the review is where flagged goals are talked through
            case PlanReviewReminderDue():
                self.reminded_for = event.review_due
            case PlanReviewOverdue():
                self.overdue_for = event.review_due
            case SessionRecorded():
                self.session_ids.add(event.session_id)
            case TransferRequested():
                self.pending_transfer = PendingTransfer(
                    event.from_centre, event.to_centre, event.reason, event.requested_on
                )
            case TransferAccepted():
                position = self._position()
                self.ownership[-1] = replace(self.ownership[-1], until_version=position)
                self.ownership.append(OwnershipPeriod(event.to_centre, position))
                self.caseworker_id, self.pending_transfer = event.caseworker_id, None
            case TransferDeclined() | TransferWithdrawn():
                self.pending_transfer = None
            case LegalStatusNoted():
                self.legal_status = event.status
            case ProceedingsConcludedNoted():
                self.proceedings_concluded = True
            case ResidenceSettledNoted():
                self.residence_settled = True
            case HousingSecuredNoted():
                self.housing_secured = True
            case _:
                super().apply(event)
