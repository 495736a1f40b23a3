"""Published contracts of the legal service: the residence procedure and the criminal proceedings.

Events are keyed by ``case_id`` and carry ids, codes and dates only: no names, no narrative. Office ids, court
ids and the police / prosecution reference numbers are not personal data and are needed by the magistrates and
the Immigration Office. All dates are calendar days; ``ends_on`` is always the LAST day a document is valid.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from harbour.events import DomainEvent
from schemas.intake import MinorFlagReason, MinorKind

# ---- identifiers --------------------------------------------------------------------------------------------

# A lowercase slug such as "police-zone-antwerp" or "criminal-court-ghent": ids, never free text.
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=80)]
# The competent office: a district's prosecution office, a labour auditorate, or the federal prosecutor. Only the
# shape is checked here: this type also decodes stored events, and an id recorded before the registry check must
# still load. Commands check the id against the audience registry (services/legal/plausibility.check_office:
# a 422 listing the valid ids), so "prosecution-atlantis" is refused and its milestones never go to nobody.
OfficeId = Annotated[
    str,
    StringConstraints(pattern=r"^((prosecution|labour-auditorate)-[a-z]+(-[a-z]+)*|federal-prosecution)$"),
]
# Reference numbers of police reports and prosecution files ("AN.55.L1.012345/2026").
ReferenceNumber = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9./ -]*$", max_length=60)]
# Defendants are numbered as in the summons, so a verdict can never carry a name.
DefendantRef = Annotated[str, StringConstraints(pattern=r"^defendant-[0-9]{1,3}$")]


# ---- closed code lists --------------------------------------------------------------------------------------


class ResidenceDocument(StrEnum):
    ANNEX_15 = "annex-15"  # reflection period
    ATTESTATION_OF_IMMATRICULATION = "attestation-of-immatriculation"  # provisional stay
    A_CARD = "a-card"  # temporary stay
    B_CARD = "b-card"  # unlimited stay


class EndingReason(StrEnum):
    RENEWED_CONTACT_WITH_EXPLOITERS = "renewed-contact-with-exploiters"
    STOPPED_COOPERATING = "stopped-cooperating"
    COMPLAINT_FRAUDULENT_OR_UNFOUNDED = "complaint-fraudulent-or-unfounded"
    PROCEEDINGS_CLOSED = "proceedings-closed"  # dismissal
    PUBLIC_ORDER_RISK = "public-order-risk"
    VOLUNTARY_RETURN = "voluntary-return"
    STATUS_GRANTED_UNLIMITED = "status-granted-unlimited"  # B-card: the temporary procedure is over


class RefusalReason(StrEnum):
    """Why the Immigration Office refused a document or its renewal."""

    RENEWED_CONTACT_WITH_EXPLOITERS = "renewed-contact-with-exploiters"
    STOPPED_COOPERATING = "stopped-cooperating"
    COMPLAINT_FRAUDULENT_OR_UNFOUNDED = "complaint-fraudulent-or-unfounded"
    PROCEEDINGS_CLOSED = "proceedings-closed"
    PUBLIC_ORDER_RISK = "public-order-risk"
    NOT_A_TRAFFICKING_FILE = "not-a-trafficking-file"  # the prosecutor did not confirm a trafficking file
    NOT_CONSIDERED_A_VICTIM = "not-considered-a-victim"  # the magistrate's opinion was unfavourable
    CONDITIONS_NOT_MET = "conditions-not-met"


class OpinionOutcome(StrEnum):
    VICTIM = "victim"
    NOT_A_VICTIM = "not-a-victim"


class OpinionStep(StrEnum):
    """Which residence step the reference magistrate's opinion is for."""

    A_CARD_INITIAL = "a-card-initial"
    A_CARD_RENEWAL = "a-card-renewal"  # the confirmation every A-card renewal needs


class StatementKind(StrEnum):
    STATEMENT = "statement"
    COMPLAINT = "complaint"


class InvestigationStage(StrEnum):
    PRELIMINARY_INQUIRY = "preliminary-inquiry"  # led by the prosecutor / labour auditor
    JUDICIAL_INVESTIGATION = "judicial-investigation"  # led by an investigating judge
    COMMITTAL_PROCEEDINGS = "committal-proceedings"  # chamber deciding whether to send to trial
    TRIAL = "trial"
    APPEAL = "appeal"


class CourtInstance(StrEnum):
    FIRST_INSTANCE = "first-instance"
    APPEAL = "appeal"


class VerdictOutcome(StrEnum):
    CONVICTED_OF_TRAFFICKING = "convicted-of-trafficking"  # Penal Code Art. 433quinquies
    CONVICTED_OF_AGGRAVATED_SMUGGLING = "convicted-of-aggravated-smuggling"  # Art. 77quater
    CONVICTED_OF_OTHER_OFFENCES = "convicted-of-other-offences"
    ACQUITTED = "acquitted"


class AppealParty(StrEnum):
    PROSECUTION = "prosecution"
    DEFENDANT = "defendant"
    CIVIL_PARTY = "civil-party"


class MinorityEffect(StrEnum):
    """What a minority fact from intake changed for the residence procedure (docs/minors.md)."""

    REFLECTION_EXTENDED = "reflection-extended"  # the running Annex 15 now lasts three months from its start
    FIRST_ANNEX_15 = "first-annex-15"  # no Annex 15 yet: its first issue takes the period this fact implies
    NONE = "none"  # documents stand as issued: reflection over, already that long, or never shortened


class ProceedingsOutcome(StrEnum):
    DISMISSED = "dismissed"  # the prosecutor closed the file without prosecution
    NO_GROUNDS_TO_PROSECUTE = "no-grounds-to-prosecute"  # the committal chamber closed it
    FINAL_JUDGMENT = "final-judgment"


# ---- the case as the legal service follows it ---------------------------------------------------------------


class LegalCaseRegistered(DomainEvent):
    """Intake admitted the case: the legal service follows it from here (the basis of its access checks).

    Recorded in the legal store, not just kept in a table, so the read models that decide who may see a case
    are rebuildable from this service's own events (it never reads intake's store).
    """

    event_type: ClassVar[str] = "LegalCaseRegistered"
    case_id: str
    centre: Slug  # the centre guiding the person, e.g. "centre-payoke"
    unaccompanied_minor: bool
    eu_citizen: bool
    opened_on: date


# ---- residence procedure events -----------------------------------------------------------------------------


class ResidenceProcedureOpened(DomainEvent):
    event_type: ClassVar[str] = "ResidenceProcedureOpened"
    case_id: str
    opened_on: date
    unaccompanied_minor: bool
    eu_citizen: bool  # documents are optional for EU citizens
    on_request: bool  # EU citizens' procedures are opened only at their request


class DocumentRequested(DomainEvent):
    """The centre asked the Immigration Office for a document or its renewal."""

    event_type: ClassVar[str] = "DocumentRequested"
    case_id: str
    document: ResidenceDocument
    requested_on: date
    renewal: bool = False
    # The magistrate's opinion the request relies on, when the step requires one (A-card and its renewals).
    magistrate_opinion: OpinionOutcome | None = None
    magistrate_opinion_on: date | None = None


class ReflectionPeriodStarted(DomainEvent):
    """The Immigration Office issued the Annex 15: the reflection period runs from ``starts_on`` to ``ends_on``."""

    event_type: ClassVar[str] = "ReflectionPeriodStarted"
    case_id: str
    document: Literal[ResidenceDocument.ANNEX_15] = ResidenceDocument.ANNEX_15  # uniform with DocumentIssued
    decided_on: date
    starts_on: date
    ends_on: date
    unaccompanied_minor: bool


class DocumentIssued(DomainEvent):
    event_type: ClassVar[str] = "DocumentIssued"
    case_id: str
    document: ResidenceDocument
    decided_on: date
    starts_on: date
    ends_on: date | None  # None: unlimited (B-card)


class DocumentRenewed(DomainEvent):
    event_type: ClassVar[str] = "DocumentRenewed"
    case_id: str
    document: ResidenceDocument
    decided_on: date
    starts_on: date
    ends_on: date
    renewal_number: int = Field(ge=1)


class DocumentRefused(DomainEvent):
    event_type: ClassVar[str] = "DocumentRefused"
    case_id: str
    document: ResidenceDocument
    decided_on: date
    renewal: bool
    reason: RefusalReason


class DocumentExpiryReminderDue(DomainEvent):
    event_type: ClassVar[str] = "DocumentExpiryReminderDue"
    case_id: str
    document: ResidenceDocument
    ends_on: date
    days_before: int = Field(ge=1)
    due_on: date


class DocumentExpired(DomainEvent):
    event_type: ClassVar[str] = "DocumentExpired"
    case_id: str
    document: ResidenceDocument
    ends_on: date
    expired_on: date
    request_pending: bool  # a renewal or next document was requested but not decided in time


class StayLapsed(DomainEvent):
    """A milestone: the document in force passed its last valid day with no successor decided, so from
    ``lapsed_from`` the person has no valid stay. Recorded with ``DocumentExpired`` (the document's fact) for
    every document that can lapse; never for an EU citizen, whose stay rests on free movement."""

    event_type: ClassVar[str] = "StayLapsed"
    case_id: str
    document: ResidenceDocument
    ends_on: date  # the lapsed document's last valid day
    lapsed_from: date  # the first day without valid stay (ends_on + 1)
    request_pending: bool  # a renewal or next document was requested but not decided in time


class StayGapRecorded(DomainEvent):
    """A document issued or renewed after the previous one had lapsed (e.g. the magistrate's confirmation came
    late): the person had no valid stay from ``gap_from`` to ``gap_to``, both included. Recorded with the
    ``DocumentIssued`` / ``DocumentRenewed`` that ends the gap; a decision never covers the gap backwards."""

    event_type: ClassVar[str] = "StayGapRecorded"
    case_id: str
    previous_document: ResidenceDocument
    document: ResidenceDocument  # the document whose period ends the gap
    gap_from: date
    gap_to: date
    decided_on: date


class MinorityRecorded(DomainEvent):
    """Intake established or disproved the person's minority (its ``MinorityEstablished`` /
    ``MinorityDisproved``), and what that changed for the residence procedure."""

    event_type: ClassVar[str] = "MinorityRecorded"
    case_id: str
    minor: MinorKind | None  # None: disproved, the person is an adult
    basis: MinorFlagReason
    fact_on: date  # the day intake established or disproved it
    effect: MinorityEffect


class ReflectionPeriodExtended(DomainEvent):
    """An unaccompanied minor established while the Annex 15 runs: its reflection lasts three months from its
    start (DOMAIN §2) instead of 45 days; reminders and the expiry move with ``ends_on``."""

    event_type: ClassVar[str] = "ReflectionPeriodExtended"
    case_id: str
    document: Literal[ResidenceDocument.ANNEX_15] = ResidenceDocument.ANNEX_15
    starts_on: date
    previous_ends_on: date
    ends_on: date
    extended_on: date


class VoluntaryReturnChosen(DomainEvent):
    event_type: ClassVar[str] = "VoluntaryReturnChosen"
    case_id: str
    chosen_on: date


class ResidenceStatusEnded(DomainEvent):
    """A milestone: the victim status ended, for the recorded reason."""

    event_type: ClassVar[str] = "ResidenceStatusEnded"
    case_id: str
    ended_on: date
    reason: EndingReason


class HearingStayWarning(DomainEvent):
    """The person's stay will not be valid on the day of a hearing they may have to attend."""

    event_type: ClassVar[str] = "HearingStayWarning"
    case_id: str
    hearing_on: date
    court: Slug
    document: ResidenceDocument | None  # the document in force when warned, if any
    ends_on: date | None
    warned_on: date


# ---- criminal proceedings events ----------------------------------------------------------------------------


class StatementMade(DomainEvent):
    event_type: ClassVar[str] = "StatementMade"
    case_id: str
    made_on: date
    kind: StatementKind
    unit: Slug  # police or inspectorate unit, e.g. "police-zone-antwerp", "social-inspection-ghent"
    report_number: ReferenceNumber


class ProsecutorialFileAssigned(DomainEvent):
    event_type: ClassVar[str] = "ProsecutorialFileAssigned"
    case_id: str
    office: OfficeId  # e.g. "prosecution-antwerp", "labour-auditorate-brussels"
    file_number: ReferenceNumber
    assigned_on: date


class MagistrateOpinionRequested(DomainEvent):
    event_type: ClassVar[str] = "MagistrateOpinionRequested"
    case_id: str
    step: OpinionStep
    requested_on: date


class MagistrateOpinionGiven(DomainEvent):
    event_type: ClassVar[str] = "MagistrateOpinionGiven"
    case_id: str
    step: OpinionStep
    outcome: OpinionOutcome
    given_on: date


class InvestigationStageReached(DomainEvent):
    event_type: ClassVar[str] = "InvestigationStageReached"
    case_id: str
    stage: InvestigationStage
    reached_on: date


class HearingScheduled(DomainEvent):
    event_type: ClassVar[str] = "HearingScheduled"
    case_id: str
    hearing_no: int = Field(ge=1)
    court: Slug
    hearing_on: date
    attendance_required: bool
    scheduled_on: date


class CivilPartyJoined(DomainEvent):
    event_type: ClassVar[str] = "CivilPartyJoined"
    case_id: str
    joined_on: date


class ProsecutorRequisitionsFiled(DomainEvent):
    event_type: ClassVar[str] = "ProsecutorRequisitionsFiled"
    case_id: str
    filed_on: date
    asks_trafficking_conviction: bool


class DefendantVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    defendant: DefendantRef
    outcome: VerdictOutcome


class VerdictDelivered(DomainEvent):
    event_type: ClassVar[str] = "VerdictDelivered"
    case_id: str
    court: Slug
    instance: CourtInstance
    delivered_on: date
    defendants: tuple[DefendantVerdict, ...] = Field(min_length=1)


class AppealLodged(DomainEvent):
    event_type: ClassVar[str] = "AppealLodged"
    case_id: str
    lodged_on: date
    by: AppealParty


class CompensationAwarded(DomainEvent):
    event_type: ClassVar[str] = "CompensationAwarded"
    case_id: str
    awarded_on: date
    court: Slug
    amount_cents: int = Field(gt=0)  # integer cents: money is never a float


class ProceedingsConcluded(DomainEvent):
    event_type: ClassVar[str] = "ProceedingsConcluded"
    case_id: str
    concluded_on: date
    outcome: ProceedingsOutcome


RESIDENCE_EVENTS: tuple[type[DomainEvent], ...] = (
    ResidenceProcedureOpened,
    DocumentRequested,
    ReflectionPeriodStarted,
    DocumentIssued,
    DocumentRenewed,
    DocumentRefused,
    DocumentExpiryReminderDue,
    DocumentExpired,
    VoluntaryReturnChosen,
    ResidenceStatusEnded,
    HearingStayWarning,
    StayLapsed,
    StayGapRecorded,
    MinorityRecorded,
    ReflectionPeriodExtended,
)
PROCEEDINGS_EVENTS: tuple[type[DomainEvent], ...] = (
    StatementMade,
    ProsecutorialFileAssigned,
    MagistrateOpinionRequested,
    MagistrateOpinionGiven,
    InvestigationStageReached,
    HearingScheduled,
    CivilPartyJoined,
    ProsecutorRequisitionsFiled,
    VerdictDelivered,
    AppealLodged,
    CompensationAwarded,
    ProceedingsConcluded,
)
CASE_EVENTS: tuple[type[DomainEvent], ...] = (LegalCaseRegistered,)
LEGAL_EVENTS: tuple[type[DomainEvent], ...] = (*CASE_EVENTS, *RESIDENCE_EVENTS, *PROCEEDINGS_EVENTS)
