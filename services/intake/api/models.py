"""Request and response bodies of the intake API. Requests forbid unknown fields (a typo is a 422, not ignored).

Responses never echo personal data except the person read (``PersonView``), which is audited.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any, Literal

import asyncpg
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from harbour.custody import Custody
from schemas.intake import (
    IDENTITY_FIELDS,
    Centre,
    ConsentScope,
    DeclineReason,
    ErasureReason,
    ExploitationType,
    FileNumber,
    LeadCloseReason,
    MinorFlagReason,
    MinorKind,
    RedirectReason,
    RedirectTarget,
    Region,
    ScreeningSummary,
    Sex,
    Urgency,
)
from services.intake.profile import COUNTRIES, ProfileInput


def _assigned(code: str) -> str:
    # Two capitals is the shape; the profile needs a country, so a code ISO never assigned ("UK", "ZZ") is a 422.
    if code not in COUNTRIES:
        raise ValueError("not an ISO 3166-1 alpha-2 country code")
    return code


Nationality = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$"), AfterValidator(_assigned)]
Version = Annotated[int | None, Field(default=None, ge=0, description="the version you read; 409 when stale")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expected_version: Version = None


# --- the person's identity --------------------------------------------------------------------------------


class PersonDetails(BaseModel):
    """What is known of the person; every field optional (a person may stay anonymous until they agree)."""

    model_config = ConfigDict(extra="forbid")

    names: Text | None = None
    aliases: list[Text] | None = Field(None, max_length=20)
    sex: Sex | None = Field(None, description="as the person states it; absent: not recorded")
    date_of_birth: date | None = None
    nationality: Nationality | None = Field(None, description="ISO 3166-1 alpha-2")
    languages: list[Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]] | None = Field(
        None, max_length=20, description="ISO 639 codes"
    )
    phone: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 ()./-]{6,24}$")] | None = None
    identity_document_numbers: list[Text] | None = Field(None, max_length=10)
    photo_reference: Text | None = None

    def profile_input(self) -> ProfileInput:
        """The clear values the coarse profile is made of (services/intake/profile.py); never stored."""
        return ProfileInput(sex=self.sex, date_of_birth=self.date_of_birth, nationality=self.nationality)

    def clear_values(self) -> dict[str, str]:
        """The given fields as text, ready to seal one by one (lists as JSON)."""
        dumped = self.model_dump(mode="json", include=set(IDENTITY_FIELDS), exclude_none=True)
        return {name: json.dumps(value) if isinstance(value, list) else str(value) for name, value in dumped.items()}


LIST_FIELDS = frozenset({"aliases", "languages", "identity_document_numbers"})


def decode_value(field: str, text: str) -> str | list[str]:
    return json.loads(text) if field in LIST_FIELDS else text


class IdentityRequest(PersonDetails):
    expected_version: Version = None


# --- referral commands ------------------------------------------------------------------------------------


class ReferralRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_centre: Centre
    region: Region
    referrer_file_number: FileNumber | None = Field(None, description="e.g. the police report number")
    exploitation_types: list[ExploitationType] = Field(default_factory=list)
    signal_ids: list[str] = Field(default_factory=list, description="ids from the screening catalogue")
    urgency: list[Urgency] = Field(default_factory=list)
    circumstances: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)] | None = (
        Field(None, description="free text about the person: sealed under the person's key, never stored in clear")
    )
    person: PersonDetails | None = None


class ScreeningRequest(Command):
    added_signal_ids: list[str] = Field(default_factory=list)


class DecisionRequest(Command):
    decision: Literal["accept", "decline", "redirect"]
    decline_reason: DeclineReason | None = None
    redirect_to: RedirectTarget | None = None
    redirect_reason: RedirectReason | None = None


class InterviewRequest(Command):
    held_on: date | None = Field(None, description="defaults to today; never in the future")


class ConsentRequest(Command):
    scope: ConsentScope


class MinorRequest(Command):
    reason: MinorFlagReason
    kind: MinorKind = Field(MinorKind.UNACCOMPANIED, description="an accompanied minor has a parent with them")


class MinorityRequest(Command):
    kind: MinorKind
    basis: MinorFlagReason
    on: date | None = Field(None, description="when it was established; defaults to today, never in the future")


class DisprovalRequest(Command):
    basis: MinorFlagReason
    on: date | None = Field(None, description="when it was disproved; defaults to today, never in the future")


class AdmissionRequest(Command):
    eu_citizen: bool
    exploitation_types: list[ExploitationType] | None = Field(None, description="corrects the referrer's view")


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: ErasureReason


# --- views --------------------------------------------------------------------------------------------------


class Decision(BaseModel):
    decision: Literal["accepted", "declined", "redirected"]
    decided_on: date
    decline_reason: DeclineReason | None = None
    redirected_to: RedirectTarget | None = None
    redirect_reason: RedirectReason | None = None


class ReferralStatusView(BaseModel):
    """What the referring organisation sees: that its referral arrived, was decided, and taken up."""

    referral_id: str
    referring_organisation_id: str
    referrer_file_number: str | None
    target_centre: Centre
    region: Region
    status: str
    submitted_on: date
    referrer_screening: ScreeningSummary
    decision: Decision | None
    taken_up: bool  # the person was admitted (the case itself is the centre's)


class ReferralView(ReferralStatusView):
    """What the centre the referral is addressed to works from. No personal data: see ``/persons/{id}``."""

    version: int
    screened: bool
    screening: ScreeningSummary
    signal_ids: list[str]
    exploitation_types: list[ExploitationType]
    urgency: list[Urgency]
    interviews: int
    last_interview_on: date | None
    consents: list[ConsentScope]
    minor: bool
    person_id: str | None
    case_id: str | None
    opened_on: date | None


class CaseView(BaseModel):
    case_id: str
    referral_id: str
    centre: Centre = Field(description="the centre holding the case now (after a transfer: the receiving one)")
    admitted_by: Centre
    person_id: str
    opened_on: date
    minor: bool = Field(description="a minor of either kind (see minority)")
    minority: MinorKind | None
    eu_citizen: bool
    exploitation_types: list[ExploitationType]
    urgency: list[Urgency]
    region: Region
    referring_organisation_id: str
    consents: list[ConsentScope]
    person_erased: bool


class HistoryEntry(BaseModel):
    """One fact of the case's intake file: what and when, never its content (the person's data stay sealed)."""

    event_id: str
    event_type: str
    recorded_at: datetime


class CaseHistory(BaseModel):
    """A page of the facts of the case's intake file, oldest first."""

    case_id: str
    held_until: datetime | None = Field(description="a former holder reads up to the end of its period; else null")
    items: list[HistoryEntry]
    next: str | None = Field(description="pass as ?after= for the next page; null on the last page")


class CasePage(BaseModel):
    items: list[CaseView]
    next_after: int | None = Field(description="pass as ?after= for the next page; null on the last page")


class PersonView(BaseModel):
    """A person's identity as far as known. Values of an erased person read as ``[erased]``."""

    person_id: str
    referral_id: str
    case_id: str | None
    erased: bool
    identity: dict[str, Any]  # field -> value (lists for aliases, languages, document numbers)
    circumstances: str | None


class ErasureView(BaseModel):
    person_id: str
    erased_on: date
    reason: ErasureReason


# --- leads: tips from the public --------------------------------------------------------------------------


class LeadTakeUpRequest(Command):
    """Take the lead up: the centre refers the situation to itself, pre-filled with the tip's signals and kinds."""

    urgency: list[Urgency] = Field(default_factory=list)
    added_signal_ids: list[str] = Field(default_factory=list, max_length=64,
                                        description="signals the centre adds to the tipster's")  # fmt: skip


class LeadClosureRequest(Command):
    reason: LeadCloseReason


class LeadView(BaseModel):
    """A lead as its centre works from it: the tip's routing facts. What the tipster wrote (the municipality they
    typed, and how to call them back) is read from the signals service, ``GET /tips/{lead_id}`` (docs/tips.md)."""

    lead_id: str
    version: int
    centre: Centre
    status: Literal["open", "taken-up", "closed"]
    region: Region
    postcode: str
    seen_on: date | None
    exploitation_types: list[ExploitationType]
    signal_ids: list[str]
    catalogue_version: str
    submitted_on: date
    received_on: date
    referral_id: str | None = Field(description="the referral the lead was taken up as")
    close_reason: LeadCloseReason | None
    decided_on: date | None


class LeadPage(BaseModel):
    items: list[LeadView]
    next_after: int | None = Field(description="pass as ?after= for the next page; null on the last page")


# --- views of read-model rows (services/intake/read_models.py) ---------------------------------------------


def status_view(row: asyncpg.Record) -> ReferralStatusView:
    return ReferralStatusView(**_status_fields(row))


def referral_view(row: asyncpg.Record) -> ReferralView:
    return ReferralView(
        **_status_fields(row),
        version=row["version"],
        screened=row["screened"],
        screening=json.loads(row["screening"]),
        signal_ids=list(row["signal_ids"]),
        exploitation_types=list(row["exploitation_types"]),
        urgency=list(row["urgency"]),
        interviews=row["interviews"],
        last_interview_on=row["last_interview_on"],
        consents=list(row["consents"]),
        minor=row["minor"],
        person_id=row["person_id"],
        case_id=row["case_id"],
        opened_on=row["opened_on"],
    )


def _status_fields(row: asyncpg.Record) -> dict[str, Any]:
    decision = None
    if row["status"] in ("accepted", "declined", "redirected") or row["decided_on"] is not None:
        decision = Decision(
            decision="accepted" if row["status"] == "admitted" else row["status"],
            decided_on=row["decided_on"],
            decline_reason=row["decline_reason"],
            redirected_to=row["redirected_to"],
            redirect_reason=row["redirect_reason"],
        )
    return {
        "referral_id": row["referral_id"],
        "referring_organisation_id": row["referring_org"],
        "referrer_file_number": row["referrer_file_number"],
        "target_centre": row["target_centre"],
        "region": row["region"],
        "status": row["status"],
        "submitted_on": row["submitted_on"],
        "referrer_screening": json.loads(row["referrer_screening"]),
        "decision": decision,
        "taken_up": row["status"] == "admitted",
    }


def case_view(row: asyncpg.Record, *, holder: Custody | None = None, **as_of: Any) -> CaseView:
    """The case as its holder sees it; ``as_of`` overrides the facts that changed after a former holder's period
    (``minor``, ``minority``, ``consents``, ``person_erased``)."""
    fields = {"minor": row["minor"], "minority": row["minority"], "consents": list(row["consents"]),
              "person_erased": row["person_erased_on"] is not None, **as_of}  # fmt: skip
    return CaseView(
        case_id=row["case_id"],
        referral_id=row["referral_id"],
        centre=holder.centre if holder is not None else row["centre"],
        admitted_by=row["centre"],
        person_id=row["person_id"],
        opened_on=row["opened_on"],
        minor=fields["minor"],
        minority=fields["minority"],
        eu_citizen=row["eu_citizen"],
        exploitation_types=list(row["exploitation_types"]),
        urgency=list(row["urgency"]),
        region=row["region"],
        referring_organisation_id=row["referring_org"],
        consents=fields["consents"],
        person_erased=fields["person_erased"],
    )


def lead_view(row: asyncpg.Record) -> LeadView:
    return LeadView(
        lead_id=row["lead_id"], version=row["version"], centre=row["centre"], status=row["status"],
        region=row["region"], postcode=row["postcode"], seen_on=row["seen_on"],
        exploitation_types=list(row["exploitation_types"]), signal_ids=list(row["signal_ids"]),
        catalogue_version=row["catalogue_version"], submitted_on=row["submitted_on"],
        received_on=row["received_on"], referral_id=row["referral_id"], close_reason=row["close_reason"],
        decided_on=row["decided_on"],
    )  # fmt: skip
