"""The criminal proceedings in which the person is a witness and possibly a civil party (stream "proceedings").

They feed the residence procedure through :meth:`CriminalProceedings.facts` and :func:`ending_for`: an opinion
unlocks the A-card, a conviction the B-card, a dismissal ends the status.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from harbour.aggregate import Aggregate
from harbour.errors import RuleViolation
from harbour.events import DomainEvent
from schemas.legal import (
    AppealLodged,
    AppealParty,
    CivilPartyJoined,
    CompensationAwarded,
    CourtInstance,
    DefendantVerdict,
    EndingReason,
    HearingScheduled,
    InvestigationStage,
    InvestigationStageReached,
    MagistrateOpinionGiven,
    MagistrateOpinionRequested,
    OpinionOutcome,
    OpinionStep,
    ProceedingsConcluded,
    ProceedingsOutcome,
    ProsecutorialFileAssigned,
    ProsecutorRequisitionsFiled,
    StatementKind,
    StatementMade,
    VerdictDelivered,
    VerdictOutcome,
)
from services.legal.rules import MagistrateOpinion, ProceedingsFacts

# Outcomes that close the judicial procedure without a trial: the victim status ends (DOMAIN §2).
CLOSING_WITHOUT_TRIAL = frozenset({ProceedingsOutcome.DISMISSED, ProceedingsOutcome.NO_GROUNDS_TO_PROSECUTE})


class CriminalProceedings(Aggregate):
    stream_type = "proceedings"  # id = case id

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.statements: list[StatementMade] = []
        self.office: str | None = None
        self.file_number: str | None = None
        self.assigned_on: date | None = None  # the first assignment: the day a criminal file exists
        self.opinion_requests: list[MagistrateOpinionRequested] = []
        self.opinions: list[MagistrateOpinion] = []
        self.stage: InvestigationStage | None = None
        self.hearings: list[HearingScheduled] = []
        self.civil_party_on: date | None = None
        self.requisitions: list[ProsecutorRequisitionsFiled] = []
        self.verdicts: list[VerdictDelivered] = []
        self.compensation_cents = 0
        self.concluded: ProceedingsConcluded | None = None

    # ---- commands -------------------------------------------------------------------------------------------

    def make_statement(self, *, on: date, kind: StatementKind, unit: str, report_number: str) -> None:
        self._require_open()
        self._record(StatementMade(case_id=self.id, made_on=on, kind=kind, unit=unit, report_number=report_number))

    def assign_file(self, *, office: str, file_number: str, on: date) -> None:
        """The competent prosecutor's office or labour auditorate took the file (again, if it was transferred)."""
        self._require_open()
        self._record(ProsecutorialFileAssigned(case_id=self.id, office=office, file_number=file_number, assigned_on=on))

    def request_opinion(self, *, step: OpinionStep, on: date) -> None:
        self._require_statement()
        self._require_open()
        self._record(MagistrateOpinionRequested(case_id=self.id, step=step, requested_on=on))

    def give_opinion(self, *, step: OpinionStep, outcome: OpinionOutcome, on: date) -> None:
        self._require_statement()
        self._require_open()
        if step is OpinionStep.A_CARD_RENEWAL and not self._initial_favourable():
            raise RuleViolation(
                "a renewal can only be confirmed after a favourable opinion on victim status", field="step"
            )
        self._record(MagistrateOpinionGiven(case_id=self.id, step=step, outcome=outcome, given_on=on))

    def reach_stage(self, *, stage: InvestigationStage, on: date) -> None:
        self._require_statement()
        self._require_open()
        self._record(InvestigationStageReached(case_id=self.id, stage=stage, reached_on=on))

    def schedule_hearing(self, *, court: str, hearing_on: date, attendance_required: bool, on: date) -> int:
        """Record a hearing and return its number within the case (the key of its timers)."""
        self._require_statement()
        self._require_open()
        if hearing_on < on:
            raise RuleViolation("a hearing cannot be scheduled in the past", field="hearing_on")
        number = len(self.hearings) + 1
        self._record(
            HearingScheduled(
                case_id=self.id,
                hearing_no=number,
                court=court,
                hearing_on=hearing_on,
                attendance_required=attendance_required,
                scheduled_on=on,
            )
        )
        return number

    def join_as_civil_party(self, *, on: date) -> None:
        self._require_statement()
        self._require_open()
        if self.civil_party_on is not None:
            raise RuleViolation("the person is already a civil party", field="civil_party")
        self._record(CivilPartyJoined(case_id=self.id, joined_on=on))

    def file_requisitions(self, *, asks_trafficking_conviction: bool, on: date) -> None:
        self._require_statement()
        self._require_open()
        self._record(
            ProsecutorRequisitionsFiled(
                case_id=self.id, filed_on=on, asks_trafficking_conviction=asks_trafficking_conviction
            )
        )

    def deliver_verdict(
        self, *, court: str, instance: CourtInstance, defendants: Iterable[DefendantVerdict], on: date
    ) -> None:
        self._require_statement()
        self._require_open()
        verdicts = tuple(defendants)
        refs = [v.defendant for v in verdicts]
        if len(set(refs)) != len(refs):
            raise RuleViolation("each defendant has one outcome per verdict", field="defendants")
        if instance is CourtInstance.APPEAL and not self.verdicts:
            raise RuleViolation("an appeal verdict needs a first-instance verdict", field="instance")
        self._record(
            VerdictDelivered(case_id=self.id, court=court, instance=instance, delivered_on=on, defendants=verdicts)
        )

    def lodge_appeal(self, *, by: AppealParty, on: date) -> None:
        self._require_open()
        if not self.verdicts:
            raise RuleViolation("there is no verdict to appeal", field="verdict")
        self._record(AppealLodged(case_id=self.id, lodged_on=on, by=by))

    def award_compensation(self, *, court: str, amount_cents: int, on: date) -> None:
        # Compensation in a criminal court goes to a civil party; an amount for someone who never joined is
        # a data-entry error. Allowed after the conclusion: civil interests are often decided later.
        if self.civil_party_on is None:
            raise RuleViolation("compensation is awarded to a civil party only", field="civil_party")
        if amount_cents <= 0:
            raise RuleViolation("the amount must be positive, in cents", field="amount_cents")
        self._record(CompensationAwarded(case_id=self.id, awarded_on=on, court=court, amount_cents=amount_cents))

    def conclude(self, *, outcome: ProceedingsOutcome, on: date) -> None:
        self._require_open()
        if outcome is ProceedingsOutcome.FINAL_JUDGMENT and not self.verdicts:
            raise RuleViolation("a final judgment needs a verdict", field="outcome")
        self._record(ProceedingsConcluded(case_id=self.id, concluded_on=on, outcome=outcome))

    # ---- what the residence procedure needs -----------------------------------------------------------------

    def facts(self) -> ProceedingsFacts:
        def latest(step: OpinionStep) -> MagistrateOpinion | None:
            return next((o for o in reversed(self.opinions) if o.step is step), None)

        convicted = [
            v.delivered_on
            for v in self.verdicts
            if any(d.outcome is VerdictOutcome.CONVICTED_OF_TRAFFICKING for d in v.defendants)
        ]
        asked = [r.filed_on for r in self.requisitions if r.asks_trafficking_conviction]
        return ProceedingsFacts(
            statement_on=min((s.made_on for s in self.statements), default=None),
            initial_opinion=latest(OpinionStep.A_CARD_INITIAL),
            renewal_confirmation=latest(OpinionStep.A_CARD_RENEWAL),
            trafficking_conviction_on=min(convicted, default=None),
            trafficking_requisitions_on=min(asked, default=None),
            concluded_on=self.concluded.concluded_on if self.concluded else None,
        )

    # ---- state ----------------------------------------------------------------------------------------------

    def apply(self, event: DomainEvent) -> None:
        match event:
            case StatementMade():
                self.statements.append(event)
            case ProsecutorialFileAssigned():
                self.office, self.file_number = event.office, event.file_number
                self.assigned_on = self.assigned_on or event.assigned_on
            case MagistrateOpinionGiven():
                self.opinions.append(MagistrateOpinion(event.step, event.outcome, event.given_on))
            case InvestigationStageReached():
                self.stage = event.stage
            case HearingScheduled():
                self.hearings.append(event)
            case CivilPartyJoined():
                self.civil_party_on = event.joined_on
            case ProsecutorRequisitionsFiled():
                self.requisitions.append(event)
            case VerdictDelivered():
                self.verdicts.append(event)
            case CompensationAwarded():
                self.compensation_cents += event.amount_cents
            case ProceedingsConcluded():
                self.concluded = event
            case MagistrateOpinionRequested():
                self.opinion_requests.append(event)
            case AppealLodged():
                pass  # recorded for the file's history; no invariant depends on it
            case _:
                super().apply(event)  # an event it does not know is a TypeError, never silently dropped

    # ---- dates of its history (the bounds of services/legal/dates.RULES) ------------------------------

    def requested_on(self, step: OpinionStep) -> date | None:
        """The day the latest opinion for ``step`` was asked, if it was."""
        return next((r.requested_on for r in reversed(self.opinion_requests) if r.step is step), None)

    @property
    def last_verdict_on(self) -> date | None:
        return self.verdicts[-1].delivered_on if self.verdicts else None

    def _require_open(self) -> None:
        if self.concluded is not None:
            raise RuleViolation("the proceedings are concluded", field="concluded")

    def _require_statement(self) -> None:
        if not self.statements:
            raise RuleViolation("the proceedings start with a statement or complaint", field="statement")

    def _initial_favourable(self) -> bool:
        initial = [o for o in self.opinions if o.step is OpinionStep.A_CARD_INITIAL]
        return bool(initial) and initial[-1].favourable


def ending_for(event: DomainEvent) -> EndingReason | None:
    """The residence ending a proceedings event implies, if any: a dismissal closes the judicial procedure."""
    if isinstance(event, ProceedingsConcluded) and event.outcome in CLOSING_WITHOUT_TRIAL:
        return EndingReason.PROCEEDINGS_CLOSED
    return None
