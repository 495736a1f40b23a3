"""Request and response bodies of the legal API (OpenAPI documents them from here).

Dates a caller may give are the dates facts happened (``on``, default: today in Brussels). Validity dates are
never accepted from a caller: the domain computes them from the rules.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.legal import (
    AppealParty,
    CourtInstance,
    DefendantVerdict,
    EndingReason,
    InvestigationStage,
    OfficeId,
    OpinionOutcome,
    OpinionStep,
    ProceedingsOutcome,
    ReferenceNumber,
    RefusalReason,
    ResidenceDocument,
    Slug,
    StatementKind,
)


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: date | None = Field(None, description="The day it happened (default today, Brussels); never in the future.")
    expected_version: int | None = Field(
        None, ge=0, description="The stream version the client last read; a stale one is answered with 409."
    )


class OpenOnRequest(Command):
    """An EU citizen asks for the procedure (their documents are optional, so it is not opened by itself)."""


class DocumentRequest(Command):
    document: ResidenceDocument


class RenewalRequest(Command):
    """Renew the document in force (attestation once; A-card with the magistrate's confirmation)."""


class Decision(Command):
    outcome: Literal["issued", "refused"]
    reason: RefusalReason | None = Field(None, description="Required when refused.")


class VoluntaryReturn(Command):
    pass


class Ending(Command):
    reason: EndingReason


class Statement(Command):
    kind: StatementKind
    unit: Slug = Field(description="Police or inspectorate unit, e.g. police-zone-antwerp.")
    report_number: ReferenceNumber


class FileAssignment(Command):
    office: OfficeId
    file_number: ReferenceNumber


class OpinionRequest(Command):
    step: OpinionStep


class Opinion(Command):
    step: OpinionStep
    outcome: OpinionOutcome


class Stage(Command):
    stage: InvestigationStage


class Hearing(Command):
    court: Slug
    hearing_on: date
    attendance_required: bool


class CivilParty(Command):
    pass


class Requisitions(Command):
    asks_trafficking_conviction: bool


class Verdict(Command):
    court: Slug
    instance: CourtInstance
    defendants: list[DefendantVerdict] = Field(min_length=1)


class Appeal(Command):
    by: AppealParty


class Compensation(Command):
    court: Slug
    amount_cents: int = Field(gt=0, description="Integer cents: money is never a float.")


class Conclusion(Command):
    outcome: ProceedingsOutcome


# ---- responses ----------------------------------------------------------------------------------------------


class Accepted(BaseModel):
    case_id: str
    stream: Literal["residence", "proceedings"]
    version: int = Field(description="The stream's version after the command: send it as expected_version next.")
    events: list[str] = Field(description="Types of the events recorded, in order.")


class DocumentView(BaseModel):
    document: ResidenceDocument
    decided_on: date
    starts_on: date
    ends_on: date | None = Field(description="Last valid day; null for the unlimited B-card.")
    renewals: int
    expired: bool


class RequestView(BaseModel):
    document: ResidenceDocument
    renewal: bool
    requested_on: date
    magistrate_opinion: OpinionOutcome | None
    magistrate_opinion_on: date | None


class EndingView(BaseModel):
    ended_on: date
    reason: EndingReason


class DeadlineView(BaseModel):
    case_id: str
    kind: Literal["reflection-period-end", "document-expiry", "hearing"]
    due_on: date = Field(description="The last valid day of the document, or the hearing day.")
    document: ResidenceDocument | None = None
    court: str | None = None


class DeadlinePage(BaseModel):
    items: list[DeadlineView]
    next: str | None = Field(description="pass as ?after= for the next page; null on the last page")


class ResidenceStatus(BaseModel):
    case_id: str
    procedure_open: bool
    version: int = Field(description="Version of the residence stream (0 while it is not open).")
    unaccompanied_minor: bool
    eu_citizen: bool
    opened_on: date | None
    current: DocumentView | None
    pending_request: RequestView | None
    last_refusal: dict[str, Any] | None
    stay_valid_today: bool
    reminders_sent: int
    hearing_warnings: int
    ended: EndingView | None
    next_deadline: DeadlineView | None
    as_of: datetime | None = Field(
        None,
        description="Set for a centre that held the case before a transfer: the file as it stood at its hand-over "
        "(stay_valid_today is then the stay on that day; deadlines are the holder's, so none is shown).",
    )


class ProceedingsView(BaseModel):
    case_id: str
    version: int
    summary: dict[str, Any]
    as_of: datetime | None = Field(
        None, description="Set for a centre that held the case before a transfer: the file as at its hand-over."
    )


# --- the stay on a day (api/stay.py) ------------------------------------------------------------------------------


class _StayView(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StayPeriodView(_StayView):
    document: ResidenceDocument
    decided_on: date
    starts_on: date
    ends_on: date | None = Field(description="as issued; null: unlimited (B-card)")
    renewal_number: int = Field(description="0 for a first issue")
    covered_until: date | None = Field(description="last day it covered: ends_on, or the eve of its replacement")


class StayGapView(_StayView):
    gap_from: date = Field(description="first day without valid stay")
    gap_to: date | None = Field(description="last day without valid stay; null: no successor issued yet")
    after: StayPeriodView = Field(description="the period the gap follows")


class StayOnDayView(_StayView):
    case_id: str
    on: date
    valid: bool
    basis: Literal["document", "eu-free-movement", "gap", "before-first-document"]
    procedure_open: bool
    period: StayPeriodView | None = Field(None, description="the period covering the day")
    gap: StayGapView | None = Field(None, description="the gap the day falls in")
    status_ended_on: date | None = Field(None, description="the status ended on this day or before")
    as_of: datetime | None = Field(None, description="a former holder: the file as at its hand-over")
