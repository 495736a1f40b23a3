"""Published contracts of the intake service (topic ``intake.events.v1``, keyed by case id; a referral's id
before admission).

No event carries clear personal data. The person is named by a pseudonymous ``person_id``; everything that
describes the person (identity fields, the referrer's free-text circumstances) is a :class:`harbour.pii.Sealed`
value under the person's own key, so erasing that key makes it unreadable in every stored copy at once.
Everything other services or statistics must understand is a closed code list below, never free text.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, ClassVar, Self, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from harbour.events import DomainEvent
from harbour.pii import Sealed


class ExploitationType(StrEnum):
    """Belgian Penal Code Art. 433quinquies, plus the forms added by Directive (EU) 2024/1712."""

    SEXUAL_EXPLOITATION = "sexual-exploitation"
    LABOUR_EXPLOITATION = "labour-exploitation"
    FORCED_BEGGING = "forced-begging"
    FORCED_CRIMINALITY = "forced-criminality"
    ORGAN_REMOVAL = "organ-removal"
    FORCED_MARRIAGE = "forced-marriage"  # 2024/1712
    ILLEGAL_ADOPTION = "illegal-adoption"  # 2024/1712
    EXPLOITATION_OF_SURROGACY = "exploitation-of-surrogacy"  # 2024/1712


class Region(StrEnum):
    FLANDERS = "flanders"
    BRUSSELS_CAPITAL = "brussels-capital"
    WALLONIA = "wallonia"


class Centre(StrEnum):
    """The three recognised specialised centres, the only bodies that may request victim status."""

    PAYOKE = "centre-payoke"  # Antwerp, Flanders
    PAG_ASA = "centre-pag-asa"  # Brussels
    SURYA = "centre-surya"  # Liège, Wallonia


class RedirectTarget(StrEnum):
    """Where a referral can be sent on: another recognised centre, or (for a minor) a specialised youth centre,
    which is outside the platform, so it is a destination and not a Centre."""

    PAYOKE = Centre.PAYOKE.value
    PAG_ASA = Centre.PAG_ASA.value
    SURYA = Centre.SURYA.value
    YOUTH_CENTRE = "youth-centre"


class SignalCategory(StrEnum):
    RECRUITMENT = "recruitment"
    MOVEMENT_AND_CONTROL = "movement-and-control"
    WORK_AND_LIVING_CONDITIONS = "work-and-living-conditions"
    VIOLENCE_AND_THREATS = "violence-and-threats"
    EXPLOITATION_TYPE = "exploitation-type"
    MINOR = "minor"


class Recommendation(StrEnum):
    """What screening suggests to the centre. Never a finding of victimhood: that is the magistrate's."""

    TAKE_IN = "take-in"  # two or more signals together (Payoke's rule)
    GATHER_MORE_INFORMATION = "gather-more-information"


class Urgency(StrEnum):
    IMMEDIATE_DANGER = "immediate-danger"
    NEEDS_SHELTER_TONIGHT = "needs-shelter-tonight"


class DeclineReason(StrEnum):
    INSUFFICIENT_SIGNALS = "insufficient-signals"
    PERSON_DECLINES_GUIDANCE = "person-declines-guidance"  # guidance is a condition of the status
    PERSON_UNREACHABLE = "person-unreachable"
    DUPLICATE_REFERRAL = "duplicate-referral"
    OUTSIDE_MANDATE = "outside-mandate"  # e.g. another kind of support is needed


class RedirectReason(StrEnum):
    REGION = "region"
    CAPACITY = "capacity"
    SAFETY = "safety"  # the person must be away from the region where the exploiters are
    MINOR_TO_YOUTH_CENTRE = "minor-to-youth-centre"


class ConsentScope(StrEnum):
    GUIDANCE = "guidance"
    DATA_SHARING_JUSTICE = "data-sharing-justice"  # police and reference magistrate
    CONTACT_BY_PHONE = "contact-by-phone"


class MinorFlagReason(StrEnum):
    DECLARED_AGE = "declared-age"
    IDENTITY_DOCUMENT = "identity-document"
    AGE_ASSESSMENT = "age-assessment"
    REFERRER_REPORT = "referrer-report"
    CASEWORKER_ASSESSMENT = "caseworker-assessment"


class MinorKind(StrEnum):
    """Unaccompanied minors get a guardian and three months of reflection; accompanied minors do not (DOMAIN §2,
    docs/minors.md)."""

    UNACCOMPANIED = "unaccompanied"
    ACCOMPANIED = "accompanied"


class Sex(StrEnum):
    """The person's sex as recorded on their identity (sealed there, like every identity field). Eurostat's
    trafficking tables break victims down by female, male and unknown; "other" is kept apart so the record says
    what the person said, and statistics decides how to count it."""

    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"  # recorded as not known (the person did not say): not the same as never asked


class AgeBand(StrEnum):
    """Age at identification, in whole years: Eurostat's split of minors (under 12, 12 to 17), then ten-year
    bands (the first adult band is 18 to 24, as in Eurostat's age groups)."""

    UNDER_12 = "0-11"
    FROM_12_TO_17 = "12-17"
    FROM_18_TO_24 = "18-24"
    FROM_25_TO_34 = "25-34"
    FROM_35_TO_44 = "35-44"
    FROM_45_TO_54 = "45-54"
    FROM_55_TO_64 = "55-64"
    FROM_65 = "65+"
    UNKNOWN = "unknown"


class CitizenshipGroup(StrEnum):
    EU = "eu"
    NON_EU = "non-eu"
    UNKNOWN = "unknown"


class WorldRegion(StrEnum):
    """The UN M49 region of a nationality (unstats.un.org/unsd/methodology/m49)."""

    AFRICA = "africa"
    AMERICAS = "americas"
    ASIA = "asia"
    EUROPE = "europe"
    OCEANIA = "oceania"
    UNKNOWN = "unknown"


class ErasureReason(StrEnum):
    PERSON_REQUEST = "person-request"  # GDPR Art. 17
    RETENTION_ENDED = "retention-ended"


_C = TypeVar("_C", bound=str)


def _sorted_unique(values: tuple[_C, ...]) -> tuple[_C, ...]:
    # Sets travel as sorted lists so that equal facts always serialise to equal JSON.
    return tuple(sorted(set(values)))


ExploitationTypes = Annotated[tuple[ExploitationType, ...], AfterValidator(_sorted_unique)]
UrgencyFlags = Annotated[tuple[Urgency, ...], AfterValidator(_sorted_unique)]
SignalIds = Annotated[tuple[str, ...], AfterValidator(_sorted_unique)]

# A referrer's own file number (e.g. a police report number). Restricted to the characters such numbers use,
# so that the field cannot become a free-text channel for a name.
FileNumber = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9./\- ]{1,64}$")]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ScreeningSummary(BaseModel):
    """Signals counted per category against one catalogue version, and what that suggests."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    catalogue_version: str
    counts: dict[SignalCategory, int]
    signal_count: int = Field(ge=0)
    recommendation: Recommendation


class ReferralSubmitted(DomainEvent):
    event_type: ClassVar[str] = "ReferralSubmitted"
    schema_version: ClassVar[int] = 1

    referral_id: Id
    referring_organisation_id: Id
    referrer_file_number: FileNumber | None = None
    region: Region
    target_centre: Centre
    exploitation_types: ExploitationTypes = ()
    signal_ids: SignalIds = ()
    screening: ScreeningSummary  # of the referrer's own checklist, so the referrer sees it at once
    urgency: UrgencyFlags = ()
    circumstances: Sealed | None = None  # free text about a person: sealed under that person's key
    submitted_on: date


class ReferralScreened(DomainEvent):
    event_type: ClassVar[str] = "ReferralScreened"
    schema_version: ClassVar[int] = 1

    referral_id: Id
    centre: Centre
    signal_ids: SignalIds  # the referrer's signals plus those the centre added
    screening: ScreeningSummary
    screened_on: date


class ReferralAccepted(DomainEvent):
    event_type: ClassVar[str] = "ReferralAccepted"
    schema_version: ClassVar[int] = 1

    referral_id: Id
    centre: Centre
    accepted_on: date


class ReferralDeclined(DomainEvent):
    event_type: ClassVar[str] = "ReferralDeclined"
    schema_version: ClassVar[int] = 1

    referral_id: Id
    centre: Centre
    reason: DeclineReason
    declined_on: date


class ReferralRedirected(DomainEvent):
    event_type: ClassVar[str] = "ReferralRedirected"
    schema_version: ClassVar[int] = 1

    referral_id: Id
    from_centre: Centre
    to_centre: RedirectTarget
    reason: RedirectReason
    redirected_on: date


class IntakeInterviewHeld(DomainEvent):
    event_type: ClassVar[str] = "IntakeInterviewHeld"
    schema_version: ClassVar[int] = 1

    referral_id: Id
    centre: Centre
    held_on: date


class ConsentGiven(DomainEvent):
    event_type: ClassVar[str] = "ConsentGiven"
    schema_version: ClassVar[int] = 1

    referral_id: Id
    case_id: Id | None = None  # set once the case is open
    scope: ConsentScope
    given_on: date


class ConsentWithdrawn(DomainEvent):
    event_type: ClassVar[str] = "ConsentWithdrawn"
    schema_version: ClassVar[int] = 1

    referral_id: Id
    case_id: Id | None = None
    scope: ConsentScope
    withdrawn_on: date


class IdentityCaptured(DomainEvent):
    """The person's identifying data as far as known; every field optional, every value sealed."""

    event_type: ClassVar[str] = "IdentityCaptured"
    schema_version: ClassVar[int] = 1

    referral_id: Id
    case_id: Id | None = None
    person_id: Id
    names: Sealed | None = None
    aliases: Sealed | None = None
    sex: Sealed | None = None  # added for issue 16: records before it simply have none
    date_of_birth: Sealed | None = None
    nationality: Sealed | None = None
    languages: Sealed | None = None
    phone: Sealed | None = None
    identity_document_numbers: Sealed | None = None
    photo_reference: Sealed | None = None
    captured_on: date


# The identity fields, in one place for the domain's checks and for the PII layer's (un)sealing.
IDENTITY_FIELDS: tuple[str, ...] = (
    "names",
    "aliases",
    "sex",
    "date_of_birth",
    "nationality",
    "languages",
    "phone",
    "identity_document_numbers",
    "photo_reference",
)


class CaseProfiled(DomainEvent):
    """The person's coarse profile, for the statistics (issue 16): sex, age band at identification, EU or not
    and the world region of the nationality. Coarse on purpose and never anything finer: no date, no country.
    Intake makes it from the clear identity it is given (services/intake/profile.py) and records it whenever an
    identity capture changes it, and again at admission under the new case id, so a case's profile is always the
    last ``CaseProfiled`` with its ``case_id``. Before admission ``case_id`` is None: the referral's profile,
    which nobody counts (a referral is not a case yet).

    The day of identification is the referral's submission day: the day a first-line service identified the
    person as a possible victim and referred them. It is a fact of the case, not personal data: it carries no
    person id and nothing sealed, and erasing the person's key leaves it as it is (DOMAIN §5)."""

    event_type: ClassVar[str] = "CaseProfiled"
    schema_version: ClassVar[int] = 1

    referral_id: Id
    case_id: Id | None = None
    sex: Sex  # unknown when not recorded, too
    age_band: AgeBand
    citizenship: CitizenshipGroup
    world_region: WorldRegion
    profiled_on: date


class MinorFlagged(DomainEvent):
    event_type: ClassVar[str] = "MinorFlagged"
    schema_version: ClassVar[int] = 1

    referral_id: Id
    case_id: Id | None = None
    reason: MinorFlagReason
    # Added for issue 13 with the meaning every earlier flag had (CaseOpened.minor: an unaccompanied minor).
    kind: MinorKind = MinorKind.UNACCOMPANIED
    flagged_on: date


class GuardianshipReferralRequested(DomainEvent):
    """Asks for the minor's referral to the Guardianship Service (FPS Justice). No personal data: the
    service reaches the centre by case id."""

    event_type: ClassVar[str] = "GuardianshipReferralRequested"
    schema_version: ClassVar[int] = 1

    referral_id: Id
    case_id: Id | None = None  # None while the minor is not admitted (e.g. redirected to a youth centre)
    reason: MinorFlagReason
    # Which minor: the service appoints a guardian for an unaccompanied one (None: requested before issue 13).
    kind: MinorKind | None = None
    requested_on: date


class MinorityEstablished(DomainEvent):
    """A case fact, at any time after admission: the person is a minor (an age assessment, a birth certificate
    found), or a minor of another kind than known (a parent turned out to be absent). Every service that
    decides on minority (legal's reflection period, the Guardianship Service's milestones) applies it."""

    event_type: ClassVar[str] = "MinorityEstablished"
    schema_version: ClassVar[int] = 1

    case_id: Id
    kind: MinorKind
    basis: MinorFlagReason
    established_on: date


class MinorityDisproved(DomainEvent):
    """A case fact: the person is not a minor after all (an age assessment found an adult). It never shortens a
    document already issued (docs/minors.md)."""

    event_type: ClassVar[str] = "MinorityDisproved"
    schema_version: ClassVar[int] = 1

    case_id: Id
    basis: MinorFlagReason
    disproved_on: date


class CaseOpened(DomainEvent):
    """Admission: the case that legal, tracks and housing follow from here on."""

    event_type: ClassVar[str] = "CaseOpened"
    schema_version: ClassVar[int] = 1

    case_id: Id
    referral_id: Id
    centre: Centre
    person_id: Id
    minor: bool  # 3 months of reflection instead of 45 days, and a guardian
    eu_citizen: bool  # EU citizens may receive no residence document
    exploitation_types: ExploitationTypes = ()
    urgency: UrgencyFlags = ()
    needs_shelter_tonight: bool  # spelled out because housing reacts to it alone
    referring_organisation_id: Id
    referrer_file_number: FileNumber | None = None
    region: Region
    opened_on: date

    @model_validator(mode="after")
    def _shelter_flag_matches_urgency(self) -> Self:
        if self.needs_shelter_tonight != (Urgency.NEEDS_SHELTER_TONIGHT in self.urgency):
            raise ValueError("needs_shelter_tonight must match the urgency flags")
        return self


class PersonErased(DomainEvent):
    """The person's key was destroyed: every sealed value of theirs now reads as erased."""

    event_type: ClassVar[str] = "PersonErased"
    schema_version: ClassVar[int] = 1

    person_id: Id
    reason: ErasureReason
    erased_on: date


# ---- leads: tips from the public (signals' TipSubmitted) for the centre of their region -----------------------

Postcode = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{3}$")]  # four digits: a place, never a person


class LeadCloseReason(StrEnum):
    """Why a centre closes a lead without a referral (a closed list: statistics and audits count them)."""

    NO_INDICATION = "no-indication"  # nothing in the tip points to trafficking
    NOT_ENOUGH_TO_ACT_ON = "not-enough-to-act-on"  # too little to find or reach anyone
    DUPLICATE = "duplicate"  # the centre already has a lead or a referral about the same situation
    PASSED_TO_POLICE = "passed-to-police"  # an emergency or an investigation matter: the police act, not the centre
    OUTSIDE_MANDATE = "outside-mandate"  # e.g. another kind of help is needed


class LeadOpened(DomainEvent):
    """A tip from the public became a lead for the recognised centre of the region where it was seen.

    Only the tip's routing facts, no free text: what the tipster wrote (the municipality they typed too) and how
    to call them back stay in the signals service, which the centre reads them from (docs/tips.md); intake
    holds no word of the tipster's."""

    event_type: ClassVar[str] = "LeadOpened"
    schema_version: ClassVar[int] = 1

    lead_id: Id  # the tip's id in the signals service
    centre: Centre
    region: Region
    postcode: Postcode
    seen_on: date | None = None
    exploitation_types: ExploitationTypes = ()
    signal_ids: SignalIds = ()
    catalogue_version: str
    submitted_on: date  # the day the tip was sent
    received_on: date  # the day intake made it a lead


class LeadTakenUp(DomainEvent):
    """The centre acts on the lead: a referral of its own, pre-filled with the tip's signals and kinds."""

    event_type: ClassVar[str] = "LeadTakenUp"
    schema_version: ClassVar[int] = 1

    lead_id: Id
    centre: Centre
    referral_id: Id
    taken_up_on: date


class LeadClosed(DomainEvent):
    """The centre closes the lead without a referral, for a reason from the closed list."""

    event_type: ClassVar[str] = "LeadClosed"
    schema_version: ClassVar[int] = 1

    lead_id: Id
    centre: Centre
    reason: LeadCloseReason
    closed_on: date


# What keys an intake event on intake.events.v1 when it is not simply its case id (the lock and the AsyncAPI
# documents say it per event type): a referral's events travel under the referral's id until its case is opened,
# then under the case id (the same partition as the case's later events from then on, not before).
REFERRAL_KEY = "the referral's case id once its case is opened, the referral's id (referral_id) before"
PERSON_KEY = "the person's case id, or their referral's id before admission (the case_id header; not in the payload)"
LEAD_KEY = "the lead's id (lead_id: a lead is not a case, and its referral travels under its own id)"


def message_key(event_cls: type[DomainEvent]) -> str | None:
    """The Kafka key of an intake event type when it is not the topic's "case id" (None: it is)."""
    case_id = event_cls.model_fields.get("case_id")
    if case_id is not None and case_id.is_required():
        return None
    if "lead_id" in event_cls.model_fields:
        return LEAD_KEY
    return REFERRAL_KEY if "referral_id" in event_cls.model_fields else PERSON_KEY
