"""Audience milestones: what each agency receives about the cases it is involved in, and nothing more.

A milestone is published to ``milestones.<audience>.v1`` (one topic per audience, so Kafka ACLs enforce who
reads what), keyed by the audience's own pseudonymous case reference. It never carries personal data: the
pseudonym, the audience's own file number where it has one, dates, states and reasons from closed lists.

Which milestone goes to whom, with which fields, is the POLICY table below (reviewed like code; rendered into
docs/milestone-policy.md by ``milestones.policy.render_markdown``; a test keeps the two equal).
The milestone machinery (``milestones/``, above the schemas) reads the table, supplies a case's facts and the
pseudonyms.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from schemas.audiences import milestone_topic as milestone_topic

# Values a milestone field may take: plain, closed-list or date values (never free text about a person).
FieldValue = str | int | bool | date | None


class MilestoneType(StrEnum):
    REFERRAL_RECEIVED = "referral-received"
    REFERRAL_TAKEN_UP = "referral-taken-up"
    REFERRAL_DECLINED = "referral-declined"
    REFLECTION_PERIOD_STARTED = "reflection-period-started"
    REFLECTION_PERIOD_EXPIRING = "reflection-period-expiring"
    REFLECTION_PERIOD_ENDED = "reflection-period-ended"
    STATEMENT_MADE = "statement-made"
    PROVISIONAL_STAY_GRANTED = "provisional-stay-granted"
    TEMPORARY_STAY_GRANTED = "temporary-stay-granted"
    UNLIMITED_STAY_GRANTED = "unlimited-stay-granted"
    STAY_RENEWED = "stay-renewed"
    STAY_REFUSED = "stay-refused"
    STAY_EXPIRING = "stay-expiring"
    STATUS_ENDED = "status-ended"
    MAGISTRATE_OPINION_REQUESTED = "magistrate-opinion-requested"
    HEARING_SCHEDULED = "hearing-scheduled"
    HEARING_STAY_AT_RISK = "hearing-stay-at-risk"
    CIVIL_PARTY_JOINED = "civil-party-joined"
    VERDICT_DELIVERED = "verdict-delivered"
    GUARDIANSHIP_REFERRAL = "guardianship-referral"
    TRACK_TRANSFERRED = "track-transferred"
    TRACK_CLOSED = "track-closed"
    HOUSING_SECURED = "housing-secured"
    STAY_LAPSED = "stay-lapsed"
    STAY_GAP = "stay-gap"
    REFLECTION_PERIOD_EXTENDED = "reflection-period-extended"
    TIP_RECEIVED = "tip-received"


class Milestone(BaseModel):
    """One milestone as an audience receives it (the value of a message on ``milestones.<audience>.v1``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    milestone_id: UUID = Field(description="stable per (source event, audience): a redelivery has the same id")
    milestone: MilestoneType
    audience: str
    case_ref: str = Field(description="pseudonymous case reference, stable for this audience only")
    file_number: str | None = Field(None, description="the audience's own file number, where it has one")
    occurred_on: date
    recorded_at: datetime
    source: str = Field(description="the service whose event this milestone reports")
    data: dict[str, FieldValue] = Field(default_factory=dict, description="only the fields the policy grants")


class Role(StrEnum):
    """How an audience is involved in a case; a case's facts say which audience plays each role."""

    OWNING_CENTRE = "owning-centre"  # the centre guiding the person (after a transfer: the receiving one)
    REFERRER = "referrer"  # the police unit or inspectorate that referred the person
    PROSECUTION = "prosecution"  # the competent office, once a file is assigned
    IMMIGRATION_OFFICE = "immigration-office"  # once a residence procedure involves it
    GUARDIANSHIP_SERVICE = "guardianship-service"  # for minors only


@dataclass(frozen=True)
class CaseFacts:
    """What the platform knows about a case's audiences (the ``case_audiences`` row of the publishing service)."""

    owning_centre: str | None = None
    referring_org: str | None = None
    referrer_file_number: str | None = None  # e.g. the police report number
    prosecution_office: str | None = None
    prosecution_file_number: str | None = None
    minor: bool = False
    immigration_involved: bool = False


# ---- how a milestone field is filled ---------------------------------------------------------------------


@dataclass(frozen=True)
class From:
    """A field of the source event (dotted for a nested model: ``screening.signal_count``)."""

    path: str

    def describe(self) -> str:
        return f"`{self.path}`"


@dataclass(frozen=True)
class Fixed:
    """A value the source event implies (a ``HearingStayWarning`` means: not valid on the hearing day)."""

    value: FieldValue

    def describe(self) -> str:
        return f"`{str(self.value).lower() if isinstance(self.value, bool) else self.value}`"


@dataclass(frozen=True)
class Derived:
    """A closed value computed from the event (a verdict's defendants reduced to one yes/no)."""

    description: str
    compute: Callable[[Any], FieldValue] = field(compare=False)
    # The JSON Schema of what ``compute`` returns: the per-type milestone schemas say it (schemas/jsonschema/).
    json_schema: Mapping[str, Any] = field(compare=False)

    def describe(self) -> str:
        return self.description


@dataclass(frozen=True)
class FromFacts:
    """A fact of the case, not of the event (which centre to contact): an organisation id, never personal."""

    fact: str

    def describe(self) -> str:
        return f"case's {self.fact.replace('_', ' ')}"


FieldSpec = From | Fixed | Derived | FromFacts


@dataclass(frozen=True)
class Source:
    """One kind of stored event that produces a milestone (``when``: payload values that must match)."""

    service: str
    event_type: str
    occurred_on: str
    fields: Mapping[str, FieldSpec]
    when: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    milestone: MilestoneType
    sources: tuple[Source, ...]
    grants: Mapping[Role, frozenset[str]]  # role -> the only fields that role receives


def only(*names: str) -> frozenset[str]:
    return frozenset(names)


def _is(*values: str) -> frozenset[str]:
    return frozenset(values)


def _trafficking_conviction(event: Any) -> bool:
    # A conviction for trafficking (Art. 433quinquies) or aggravated smuggling (Art. 77quater) is what opens
    # the unlimited stay (B-card): the one fact about a verdict the residence procedure turns on.
    kinds = {"convicted-of-trafficking", "convicted-of-aggravated-smuggling"}
    return any(str(getattr(d.outcome, "value", d.outcome)) in kinds for d in event.defendants)


def _signal_count(event: Any) -> int:
    return len(event.signal_ids)


# The residence documents as the Immigration Office issues them (legal's DocumentIssued and kin).
# fmt: off
_DOCUMENT = {"document": From("document"), "decided_on": From("decided_on"), "starts_on": From("starts_on"),
             "ends_on": From("ends_on")}
# fmt: on
_STAY_VIEW = only("document", "starts_on", "ends_on")
_STAY_DECISION = only("document", "decided_on", "starts_on", "ends_on")
_LAPSE = only("document", "ends_on", "lapsed_from", "request_pending")
_GAP = only("previous_document", "document", "gap_from", "gap_to", "decided_on")


def _stay_granted(milestone: MilestoneType, document: str) -> Rule:
    # Stay granted: the centre and the guardian follow the deadlines; the magistrate needs the residence
    # stage and its end date (is the victim still here for the investigation?); the Immigration Office
    # decided it and gets its own decision date back. The police get nothing: residence is not their matter.
    return Rule(
        milestone,
        (Source("legal", "DocumentIssued", "starts_on", _DOCUMENT, when={"document": _is(document)}),),
        {
            Role.OWNING_CENTRE: _STAY_VIEW,
            Role.PROSECUTION: _STAY_VIEW,
            Role.IMMIGRATION_OFFICE: _STAY_DECISION,
            Role.GUARDIANSHIP_SERVICE: _STAY_VIEW,
        },
    )


# ---- THE POLICY TABLE ------------------------------------------------------------------------------------
# Reasoning, from DOMAIN §1 ("what they need / must never see"):
# - First-line services (police, inspectorates) need the acknowledgement that their referral was received
#   and taken up, and later what matters to their investigation; never health, psychosocial notes or the
#   shelter. So the referrer gets dates only, with its own report number to find its file.
# - The reference magistrate (prosecution / labour auditorate) needs the statement, the residence-document
#   stage, and whether the victim can attend hearings; never the shelter, health or notes.
# - The Immigration Office issues the documents at a centre's request after asking the prosecutor: it gets
#   the residence steps, the magistrate-opinion step, and the end of guidance (a condition of the status).
# - The Guardianship Service appoints a guardian for every unaccompanied minor; the guardian represents the
#   minor in the residence and criminal procedures (Programme Law of 24 Dec 2002, Title XIII ch. 6), so for
#   a minor it follows those steps too, and always learns which centre to contact.
# - Shelter addresses and shelter ids never leave housing (DESIGN, Personal data): housing-secured says only
#   when and what kind of housing.
# fmt: off
POLICY: tuple[Rule, ...] = (
    Rule(
        MilestoneType.REFERRAL_RECEIVED,
        (Source("intake", "ReferralSubmitted", "submitted_on",
                {"received_on": From("submitted_on"), "region": From("region"),
                 "signal_count": From("screening.signal_count"),
                 "recommendation": From("screening.recommendation")}),),
        # The centre triages on the screening summary (counts and a suggestion, never the signals' text).
        {Role.OWNING_CENTRE: only("received_on", "region", "signal_count", "recommendation"),
         Role.REFERRER: only("received_on")},
    ),
    Rule(
        MilestoneType.TIP_RECEIVED,
        (Source("intake", "LeadOpened", "received_on",
                {"received_on": From("received_on"), "region": From("region"), "seen_on": From("seen_on"),
                 "signal_count": Derived("number of signals the tipster ticked", _signal_count,
                                         {"type": "integer", "minimum": 0})}),),
        # A tip from the public, to the centre of its region only: when and where (the region, not the place)
        # and how many signals, so the centre knows a lead waits. Never the tipster's words.
        {Role.OWNING_CENTRE: only("received_on", "region", "seen_on", "signal_count")},
    ),
    Rule(
        MilestoneType.REFERRAL_TAKEN_UP,
        (Source("intake", "ReferralAccepted", "accepted_on", {"taken_up_on": From("accepted_on")}),),
        {Role.OWNING_CENTRE: only("taken_up_on"), Role.REFERRER: only("taken_up_on")},
    ),
    Rule(
        MilestoneType.REFERRAL_DECLINED,
        (Source("intake", "ReferralDeclined", "declined_on",
                {"declined_on": From("declined_on"), "reason": From("reason")}),),
        # Not the reason to the referrer: "person declines guidance" is the person's own choice, not theirs.
        {Role.OWNING_CENTRE: only("declined_on", "reason"), Role.REFERRER: only("declined_on")},
    ),
    Rule(
        MilestoneType.GUARDIANSHIP_REFERRAL,
        (Source("intake", "GuardianshipReferralRequested", "requested_on",
                {"requested_on": From("requested_on"), "reason": From("reason"), "kind": From("kind"),
                 "centre": FromFacts("owning_centre")}),),
        # How minority was established (a closed list) tells the service whether an age assessment is due;
        # the centre's id is how it reaches the minor's guide. Any minor is referred (DOMAIN §1); the kind says
        # whether a guardian is due (unaccompanied) or the parent with the minor represents them (accompanied).
        {Role.OWNING_CENTRE: only("requested_on", "reason", "kind"),
         Role.GUARDIANSHIP_SERVICE: only("requested_on", "reason", "kind", "centre")},
    ),
    Rule(
        MilestoneType.REFLECTION_PERIOD_STARTED,
        (Source("legal", "ReflectionPeriodStarted", "starts_on", _DOCUMENT),),
        # The magistrate learns when the person must have decided whether to make a statement (45 days,
        # 3 months for a minor). The Annex 15 never mentions trafficking; nor does anything here.
        {Role.OWNING_CENTRE: _STAY_VIEW, Role.PROSECUTION: _STAY_VIEW, Role.IMMIGRATION_OFFICE: _STAY_DECISION,
         Role.GUARDIANSHIP_SERVICE: _STAY_VIEW},
    ),
    Rule(
        MilestoneType.REFLECTION_PERIOD_EXPIRING,
        (Source("legal", "DocumentExpiryReminderDue", "due_on",
                {"ends_on": From("ends_on"), "days_before": From("days_before")},
                when={"document": _is("annex-15")}),),
        # A reminder is for whoever must act on the person's behalf: the centre, and a minor's guardian.
        {Role.OWNING_CENTRE: only("ends_on", "days_before"),
         Role.GUARDIANSHIP_SERVICE: only("ends_on", "days_before")},
    ),
    Rule(
        MilestoneType.REFLECTION_PERIOD_ENDED,
        (Source("legal", "DocumentExpired", "expired_on",
                {"ends_on": From("ends_on"), "request_pending": From("request_pending")},
                when={"document": _is("annex-15")}),),
        # Whether a next document is pending decides if the person is still lawfully here: the centre and
        # the Immigration Office (which holds the request) need it; the magistrate only needs the date.
        {Role.OWNING_CENTRE: only("ends_on", "request_pending"), Role.PROSECUTION: only("ends_on"),
         Role.IMMIGRATION_OFFICE: only("ends_on", "request_pending"),
         Role.GUARDIANSHIP_SERVICE: only("ends_on", "request_pending")},
    ),
    Rule(
        MilestoneType.STATEMENT_MADE,
        (Source("legal", "StatementMade", "made_on",
                {"made_on": From("made_on"), "kind": From("kind"), "unit": From("unit"),
                 "report_number": From("report_number")}),),
        # Cooperation with justice is the condition of the status. The magistrate gets the unit and its report
        # number (reference numbers, not personal data) to join the file; the referrer learns that the
        # investigation it started has a statement, nothing more.
        {Role.OWNING_CENTRE: only("made_on", "kind"),
         Role.PROSECUTION: only("made_on", "kind", "unit", "report_number"),
         Role.REFERRER: only("made_on")},
    ),
    _stay_granted(MilestoneType.PROVISIONAL_STAY_GRANTED, "attestation-of-immatriculation"),
    _stay_granted(MilestoneType.TEMPORARY_STAY_GRANTED, "a-card"),
    _stay_granted(MilestoneType.UNLIMITED_STAY_GRANTED, "b-card"),
    Rule(
        MilestoneType.STAY_RENEWED,
        (Source("legal", "DocumentRenewed", "starts_on",
                {**_DOCUMENT, "renewal_number": From("renewal_number")}),),
        # The attestation may be renewed once only; the centre and the Office count renewals, the
        # magistrate only needs the new end date.
        {Role.OWNING_CENTRE: only("document", "starts_on", "ends_on", "renewal_number"),
         Role.PROSECUTION: _STAY_VIEW,
         Role.IMMIGRATION_OFFICE: only("document", "decided_on", "starts_on", "ends_on", "renewal_number"),
         Role.GUARDIANSHIP_SERVICE: _STAY_VIEW},
    ),
    Rule(
        MilestoneType.STAY_REFUSED,
        (Source("legal", "DocumentRefused", "decided_on",
                {"document": From("document"), "decided_on": From("decided_on"), "renewal": From("renewal"),
                 "reason": From("reason")}),),
        # The reason (closed list) is often the magistrate's own opinion or a fact for the investigation
        # (renewed contact with the exploiters); the guardian needs it to appeal for the minor.
        {Role.OWNING_CENTRE: only("document", "decided_on", "renewal", "reason"),
         Role.PROSECUTION: only("document", "decided_on", "renewal", "reason"),
         Role.IMMIGRATION_OFFICE: only("document", "decided_on", "renewal", "reason"),
         Role.GUARDIANSHIP_SERVICE: only("document", "decided_on", "renewal", "reason")},
    ),
    Rule(
        MilestoneType.STAY_EXPIRING,
        (Source("legal", "DocumentExpiryReminderDue", "due_on",
                {"document": From("document"), "ends_on": From("ends_on"), "days_before": From("days_before")},
                when={"document": _is("attestation-of-immatriculation", "a-card")}),),
        # The centre must request the renewal (or record why not) before the end date; the Office learns of
        # it from the request and the magistrate from the opinion request, not from a reminder.
        {Role.OWNING_CENTRE: only("document", "ends_on", "days_before"),
         Role.GUARDIANSHIP_SERVICE: only("document", "ends_on", "days_before")},
    ),
    Rule(
        MilestoneType.STATUS_ENDED,
        (Source("legal", "ResidenceStatusEnded", "ended_on",
                {"ended_on": From("ended_on"), "reason": From("reason")}),),
        {Role.OWNING_CENTRE: only("ended_on", "reason"), Role.PROSECUTION: only("ended_on", "reason"),
         Role.IMMIGRATION_OFFICE: only("ended_on", "reason"),
         Role.GUARDIANSHIP_SERVICE: only("ended_on", "reason")},
    ),
    Rule(
        MilestoneType.MAGISTRATE_OPINION_REQUESTED,
        (Source("legal", "MagistrateOpinionRequested", "requested_on",
                {"step": From("step"), "requested_on": From("requested_on")}),),
        # The Office asks the magistrate before every A-card and each renewal: all three follow the step.
        {Role.OWNING_CENTRE: only("step", "requested_on"), Role.PROSECUTION: only("step", "requested_on"),
         Role.IMMIGRATION_OFFICE: only("step", "requested_on")},
    ),
    Rule(
        MilestoneType.HEARING_SCHEDULED,
        (Source("legal", "HearingScheduled", "scheduled_on",
                {"hearing_no": From("hearing_no"), "hearing_on": From("hearing_on"), "court": From("court"),
                 "attendance_required": From("attendance_required")}),),
        {Role.OWNING_CENTRE: only("hearing_on", "court", "attendance_required"),
         Role.PROSECUTION: only("hearing_no", "hearing_on", "court", "attendance_required"),
         Role.GUARDIANSHIP_SERVICE: only("hearing_on", "court", "attendance_required")},
    ),
    Rule(
        MilestoneType.HEARING_STAY_AT_RISK,
        (Source("legal", "HearingStayWarning", "warned_on",
                {"hearing_on": From("hearing_on"), "court": From("court"), "document": From("document"),
                 "ends_on": From("ends_on"), "stay_valid_on_hearing_day": Fixed(False)}),),
        # The victim's availability for the hearing is the magistrate's concern; the Office can decide the
        # renewal in time. Which document, its end date, and the plain answer: not valid that day.
        {Role.OWNING_CENTRE: only("hearing_on", "court", "document", "ends_on", "stay_valid_on_hearing_day"),
         Role.PROSECUTION: only("hearing_on", "court", "document", "ends_on", "stay_valid_on_hearing_day"),
         Role.IMMIGRATION_OFFICE: only("hearing_on", "document", "ends_on", "stay_valid_on_hearing_day"),
         Role.GUARDIANSHIP_SERVICE: only("hearing_on", "stay_valid_on_hearing_day")},
    ),
    Rule(
        MilestoneType.CIVIL_PARTY_JOINED,
        (Source("legal", "CivilPartyJoined", "joined_on", {"joined_on": From("joined_on")}),),
        {Role.OWNING_CENTRE: only("joined_on"), Role.PROSECUTION: only("joined_on"),
         Role.GUARDIANSHIP_SERVICE: only("joined_on")},
    ),
    Rule(
        MilestoneType.VERDICT_DELIVERED,
        (Source("legal", "VerdictDelivered", "delivered_on",
                {"delivered_on": From("delivered_on"), "court": From("court"), "instance": From("instance"),
                 "trafficking_conviction": Derived("any defendant convicted of trafficking or aggravated "
                                                   "smuggling", _trafficking_conviction,
                                                   {"type": "boolean"})}),),
        # Defendants are never listed (not even by number): the yes/no that opens the B-card is enough.
        {Role.OWNING_CENTRE: only("delivered_on", "court", "instance", "trafficking_conviction"),
         Role.PROSECUTION: only("delivered_on", "court", "instance", "trafficking_conviction"),
         Role.IMMIGRATION_OFFICE: only("delivered_on", "instance", "trafficking_conviction"),
         Role.REFERRER: only("delivered_on"), Role.GUARDIANSHIP_SERVICE: only("delivered_on")},
    ),
    Rule(
        MilestoneType.TRACK_TRANSFERRED,
        (Source("tracks", "TransferAccepted", "accepted_on",
                {"from_centre": From("from_centre"), "to_centre": From("to_centre"),
                 "transferred_on": From("accepted_on")}),),
        # Others learn which centre to deal with now (it requests the documents); not why the person moved
        # (a safety transfer would tell where the person is not).
        {Role.OWNING_CENTRE: only("from_centre", "to_centre", "transferred_on"),
         Role.PROSECUTION: only("to_centre", "transferred_on"),
         Role.IMMIGRATION_OFFICE: only("to_centre", "transferred_on"),
         Role.GUARDIANSHIP_SERVICE: only("to_centre", "transferred_on")},
    ),
    Rule(
        MilestoneType.TRACK_CLOSED,
        (Source("tracks", "TrackClosed", "closed_on", {"closed_on": From("closed_on"), "reason": From("reason")}),),
        # Guidance by a recognised centre is a condition of the status: the Office and the magistrate must
        # learn that it ended and whether early (lost contact, return), from a closed list.
        {Role.OWNING_CENTRE: only("closed_on", "reason"), Role.PROSECUTION: only("closed_on", "reason"),
         Role.IMMIGRATION_OFFICE: only("closed_on", "reason"),
         Role.GUARDIANSHIP_SERVICE: only("closed_on", "reason")},
    ),
    Rule(
        MilestoneType.HOUSING_SECURED,
        (Source("housing", "BedAssigned", "on", {"secured_on": From("on"), "housing_kind": Fixed("shelter")}),
         Source("housing", "PersonMoved", "on", {"secured_on": From("on"), "housing_kind": From("to")},
                when={"to": _is("transitional", "independent")})),
        # When and what kind only: never the shelter, the bed or an address (they never leave housing).
        {Role.OWNING_CENTRE: only("secured_on", "housing_kind"),
         Role.GUARDIANSHIP_SERVICE: only("secured_on", "housing_kind")},
    ),
    Rule(
        MilestoneType.STAY_LAPSED,
        (Source("legal", "StayLapsed", "lapsed_from",
                {"document": From("document"), "ends_on": From("ends_on"), "lapsed_from": From("lapsed_from"),
                 "request_pending": From("request_pending")}),),
        # No lapse goes unnoticed (a missed expiry is a serious failure for the victim, DOMAIN §2): the centre
        # must act, the Immigration Office holds any pending request, and the magistrate learns that the
        # witness may no longer be lawfully here and whether a request (often awaiting its own confirmation) is
        # pending. The Guardianship Service too, for a minor: the guardian represents the minor in the
        # residence procedure and must act with the centre. The same four fields for all: the dates and states
        # of one document, nothing about the person.
        {Role.OWNING_CENTRE: _LAPSE, Role.PROSECUTION: _LAPSE, Role.IMMIGRATION_OFFICE: _LAPSE,
         Role.GUARDIANSHIP_SERVICE: _LAPSE},
    ),
    Rule(
        MilestoneType.STAY_GAP,
        (Source("legal", "StayGapRecorded", "decided_on",
                {"previous_document": From("previous_document"), "document": From("document"),
                 "gap_from": From("gap_from"), "gap_to": From("gap_to"), "decided_on": From("decided_on")}),),
        # A late decision leaves days without valid stay that nothing else would show: the same audiences as
        # the lapse it closes, so each can put the gap on its own file (a hearing or a check in those days).
        {Role.OWNING_CENTRE: _GAP, Role.PROSECUTION: _GAP, Role.IMMIGRATION_OFFICE: _GAP,
         Role.GUARDIANSHIP_SERVICE: _GAP},
    ),
    Rule(
        MilestoneType.REFLECTION_PERIOD_EXTENDED,
        (Source("legal", "ReflectionPeriodExtended", "extended_on",
                {"document": From("document"), "starts_on": From("starts_on"),
                 "previous_ends_on": From("previous_ends_on"), "ends_on": From("ends_on"),
                 "extended_on": From("extended_on")}),),
        # An unaccompanied minor's reflection lasts three months: the centre's and the guardian's deadlines
        # move, and the Immigration Office, which issued the Annex 15 with its end date, must know the new one.
        # The magistrate received the old end date with reflection-period-started (when the person must have
        # decided on a statement; the issue named three audiences, but a magistrate left with a wrong end date
        # would count the wrong days): it gets the new end date and the document, nothing more.
        {Role.OWNING_CENTRE: only("document", "starts_on", "previous_ends_on", "ends_on"),
         Role.GUARDIANSHIP_SERVICE: only("document", "starts_on", "previous_ends_on", "ends_on"),
         Role.IMMIGRATION_OFFICE: only("document", "starts_on", "previous_ends_on", "ends_on", "extended_on"),
         Role.PROSECUTION: only("document", "ends_on")},
    ),
)
# fmt: on
