"""Intake aggregates: a referral from first contact to the opening of the case, the person's erasure, and the
lead a tip from the public becomes.

One ``Referral`` stream carries the whole intake: submission, screening, the centre's decision, the intake
interview, consent, identity, the minor flag, and admission, which opens the case (``CaseOpened``); from then on
the stream's events are keyed by the case id. Pure: no I/O and no clock; every date is an argument.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from enum import StrEnum
from uuid import UUID, uuid4

from harbour.aggregate import Aggregate
from harbour.errors import NotFound, RuleViolation
from harbour.events import DomainEvent
from harbour.pii import Sealed
from schemas.intake import (
    IDENTITY_FIELDS,
    AgeBand,
    CaseOpened,
    CaseProfiled,
    Centre,
    CitizenshipGroup,
    ConsentGiven,
    ConsentScope,
    ConsentWithdrawn,
    DeclineReason,
    ErasureReason,
    ExploitationType,
    GuardianshipReferralRequested,
    IdentityCaptured,
    IntakeInterviewHeld,
    LeadClosed,
    LeadCloseReason,
    LeadOpened,
    LeadTakenUp,
    MinorFlagged,
    MinorFlagReason,
    MinorityDisproved,
    MinorityEstablished,
    MinorKind,
    PersonErased,
    RedirectReason,
    RedirectTarget,
    ReferralAccepted,
    ReferralDeclined,
    ReferralRedirected,
    ReferralScreened,
    ReferralSubmitted,
    Region,
    ScreeningSummary,
    Sex,
    Urgency,
    WorldRegion,
)
from services.intake import profile
from services.intake.profile import PROFILE_FIELDS, ProfileInput
from services.intake.screening import Catalogue, load_catalogue
from services.intake.screening import screen as screen_signals


class ReferralStatus(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    REDIRECTED = "redirected"
    ADMITTED = "admitted"


# A declined or redirected referral is closed: nothing more happens on it at this centre.
_OPEN = frozenset({ReferralStatus.SUBMITTED, ReferralStatus.ACCEPTED, ReferralStatus.ADMITTED})
# Interview, consent and identity belong to the centre that took the person in.
_TAKEN_IN = frozenset({ReferralStatus.ACCEPTED, ReferralStatus.ADMITTED})


class Referral(Aggregate):
    stream_type = "referral"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.status: ReferralStatus | None = None
        self.submission: ReferralSubmitted | None = None  # the referrer's facts, carried into CaseOpened
        self.target_centre: Centre | None = None
        self.exploitation_types: tuple[ExploitationType, ...] = ()
        self.signal_ids: tuple[str, ...] = ()
        self.urgency: tuple[Urgency, ...] = ()
        self.submitted_on: date | None = None
        self.screening: ScreeningSummary | None = None  # the referrer's until the centre screens
        self.screened = False
        self.decline_reason: DeclineReason | None = None
        self.redirected_to: RedirectTarget | None = None
        self.last_interview_on: date | None = None
        self.consents: set[ConsentScope] = set()
        self.person_id: str | None = None
        self.minor = False  # flagged or established as a minor of either kind, and not disproved since
        self.minor_kind: MinorKind | None = None
        self.minor_basis: MinorFlagReason | None = None
        self.minority_established_on: date | None = None
        self.referred_to_guardianship = False  # ever: the Guardianship Service may then decide on the age
        # The kind of minor the Guardianship Service was last asked about (None: not asked, or disproved since).
        self.guardianship_requested_for: MinorKind | None = None
        # The centre holding the admitted case (harbour.custody), set by the application before a command:
        # after a transfer the receiving centre acts on the intake file, not the centre it was addressed to.
        self.holder: Centre | None = None
        self.case_id: str | None = None
        self.opened_on: date | None = None
        self.profile: CaseProfiled | None = None  # the last coarse profile recorded (services/intake/profile.py)

    @property
    def case_key(self) -> str:
        return self.case_id or self.id

    # --- submission and screening -------------------------------------------------------------------

    def submit(
        self,
        *,
        referring_organisation_id: str,
        region: Region,
        target_centre: Centre,
        on: date,
        exploitation_types: Iterable[ExploitationType] = (),
        signal_ids: Iterable[str] = (),
        urgency: Iterable[Urgency] = (),
        referrer_file_number: str | None = None,
        circumstances: Sealed | None = None,
        catalogue: Catalogue | None = None,
        event_id: UUID | None = None,
    ) -> None:
        """A first-line service refers a possible victim. ``circumstances`` come sealed under the person's key
        (with ``event_id`` as associated data), which also fixes the person's pseudonymous id."""
        if self.exists:
            raise RuleViolation("this referral was already submitted", field="referral_id")
        signals = tuple(signal_ids)
        summary = screen_signals(catalogue or load_catalogue(), signals)
        event = ReferralSubmitted(
            referral_id=self.id,
            referring_organisation_id=referring_organisation_id,
            referrer_file_number=referrer_file_number,
            region=region,
            target_centre=target_centre,
            exploitation_types=tuple(exploitation_types),
            signal_ids=signals,
            screening=summary,
            urgency=tuple(urgency),
            circumstances=circumstances,
            submitted_on=on,
        )
        self._record(event, event_id=event_id)

    def screen(
        self,
        *,
        by_centre: Centre,
        on: date,
        added_signal_ids: Iterable[str] = (),
        catalogue: Catalogue | None = None,
    ) -> None:
        """The target centre screens the referral, adding any signals it found itself."""
        self._require_target_centre(by_centre)
        self._require_undecided()
        if self.screened:
            raise RuleViolation("this referral was already screened", field="screening")
        self._not_before(on, self.submitted_on, "the submission")
        signals = (*self.signal_ids, *added_signal_ids)
        summary = screen_signals(catalogue or load_catalogue(), signals)
        self._record(
            ReferralScreened(
                referral_id=self.id, centre=by_centre, signal_ids=signals, screening=summary, screened_on=on
            )
        )

    # --- the centre's decision ----------------------------------------------------------------------

    def accept(self, *, by_centre: Centre, on: date) -> None:
        self._require_target_centre(by_centre)
        self._require_undecided()
        # Taking someone in is an informed choice: the centre looks at the signals first.
        if not self.screened:
            raise RuleViolation("a referral is screened before it is accepted", field="screening")
        self._not_before(on, self.submitted_on, "the submission")
        self._record(ReferralAccepted(referral_id=self.id, centre=by_centre, accepted_on=on))

    def decline(self, *, by_centre: Centre, reason: DeclineReason, on: date) -> None:
        self._require_target_centre(by_centre)
        self._require_undecided()
        self._not_before(on, self.submitted_on, "the submission")
        self._record(ReferralDeclined(referral_id=self.id, centre=by_centre, reason=reason, declined_on=on))

    def redirect(self, *, by_centre: Centre, to_centre: RedirectTarget, reason: RedirectReason, on: date) -> None:
        """Send the referral on; this referral then closes (the receiving centre gets its own referral)."""
        self._require_target_centre(by_centre)
        self._require_undecided()
        if to_centre.value == by_centre.value:
            raise RuleViolation("a referral cannot be redirected to the centre that holds it", field="to_centre")
        to_youth_centre = to_centre is RedirectTarget.YOUTH_CENTRE
        if to_youth_centre and not self.minor:
            raise RuleViolation("only a person flagged as a minor goes to a youth centre", field="to_centre")
        if to_youth_centre != (reason is RedirectReason.MINOR_TO_YOUTH_CENTRE):
            raise RuleViolation("a redirect to a youth centre, and only that, names the minor reason", field="reason")
        self._not_before(on, self.submitted_on, "the submission")
        self._record(
            ReferralRedirected(
                referral_id=self.id, from_centre=by_centre, to_centre=to_centre, reason=reason, redirected_on=on
            )
        )

    # --- intake: interview, consent, identity, minors -------------------------------------------------

    def hold_intake_interview(self, *, by_centre: Centre, on: date) -> None:
        """Several conversations may be needed before admission; each one is recorded."""
        self._require_target_centre(by_centre)
        if self.status is not ReferralStatus.ACCEPTED:
            raise RuleViolation("intake interviews are held on an accepted referral before admission", field="status")
        self._not_before(on, self.submitted_on, "the submission")
        self._record(IntakeInterviewHeld(referral_id=self.id, centre=by_centre, held_on=on))

    def give_consent(self, *, by_centre: Centre, scope: ConsentScope, on: date) -> None:
        self._require_target_centre(by_centre)
        self._require_status(_TAKEN_IN, "consent is recorded by the centre that accepted the person")
        if scope in self.consents:
            raise RuleViolation(f"consent to {scope} is already given", field="scope")
        self._not_before(on, self.submitted_on, "the submission")
        self._record(ConsentGiven(referral_id=self.id, case_id=self.case_id, scope=scope, given_on=on))

    def withdraw_consent(self, *, by_centre: Centre, scope: ConsentScope, on: date) -> None:
        self._require_target_centre(by_centre)
        if scope not in self.consents:
            raise RuleViolation(f"there is no consent to {scope} to withdraw", field="scope")
        self._not_before(on, self.submitted_on, "the submission")
        self._record(ConsentWithdrawn(referral_id=self.id, case_id=self.case_id, scope=scope, withdrawn_on=on))

    def has_consent(self, scope: ConsentScope) -> bool:
        return scope in self.consents

    def require_consent(self, scope: ConsentScope) -> None:
        """Guard for any event that acts on consent (e.g. sharing data with police or the magistrate):
        call it before recording such an event; it refuses while the consent is not (or no longer) given."""
        if scope not in self.consents:
            raise RuleViolation(f"the person has not consented to {scope}", field="consent")

    def require_data_sharing_consent(self) -> None:
        self.require_consent(ConsentScope.DATA_SHARING_JUSTICE)

    def capture_identity(
        self,
        *,
        person_id: str,
        on: date,
        by_centre: Centre | None = None,
        event_id: UUID | None = None,
        clear: ProfileInput | None = None,
        **sealed: Sealed | None,
    ) -> None:
        """Record what is known of the person, already sealed (``sealed`` takes the IDENTITY_FIELDS names).

        ``clear`` holds the clear values of the sealed sex, date of birth and nationality (each one given exactly
        when its sealed value is): they only make the coarse profile, ``CaseProfiled``, recorded when it changes.
        ``by_centre=None`` is the referrer, who may pass on what it knows until the centre has decided."""
        if by_centre is None:
            self._require_status({ReferralStatus.SUBMITTED}, "after the decision only the centre adds identity")
        else:
            self._require_target_centre(by_centre)
            self._require_status(_OPEN, "identity is not captured on a closed referral")
        unknown = sorted(set(sealed) - set(IDENTITY_FIELDS))
        if unknown:
            raise RuleViolation(f"not an identity field: {', '.join(unknown)}", field=unknown[0])
        given = {name: value for name, value in sealed.items() if value is not None}
        if not given:
            raise RuleViolation("at least one identity field is needed", field="identity")
        if self.person_id is not None and person_id != self.person_id:
            raise RuleViolation("this referral already concerns another person", field="person_id")
        for name, value in given.items():
            # A value sealed under someone else's key would survive this person's erasure.
            if value.person_id != person_id:
                raise RuleViolation("the value is not sealed under this person's key", field=name)
        clear = clear or ProfileInput()
        for name in PROFILE_FIELDS:
            # A sealed value without its clear one would leave the profile behind the identity (and the reverse
            # would count what was never recorded).
            if (name in given) != (getattr(clear, name) is not None):
                raise RuleViolation(f"{name} must come both sealed and clear for the profile", field=name)
        event = IdentityCaptured(
            referral_id=self.id, case_id=self.case_id, person_id=person_id, captured_on=on, **given
        )
        self._record(event, event_id=event_id)
        self._profile(clear, on)

    def _profile(self, clear: ProfileInput, on: date) -> None:
        """Record the coarse profile when this capture changed it: what it gave replaces what was known, what it
        did not give stays (a capture of the phone number alone says nothing new of age or nationality)."""
        known = self.profile
        if known is None and clear == ProfileInput():
            return
        assert self.submitted_on is not None  # identity is captured on a submitted referral
        sex = clear.sex or (known.sex if known else Sex.UNKNOWN)
        band = profile.age_band(clear.date_of_birth, self.submitted_on) if clear.date_of_birth else None
        citizenship = profile.citizenship(clear.nationality) if clear.nationality else None
        region = profile.world_region(clear.nationality) if clear.nationality else None
        event = CaseProfiled(
            referral_id=self.id, case_id=self.case_id, sex=sex,
            age_band=band or (known.age_band if known else AgeBand.UNKNOWN),
            citizenship=citizenship or (known.citizenship if known else CitizenshipGroup.UNKNOWN),
            world_region=region or (known.world_region if known else WorldRegion.UNKNOWN), profiled_on=on,
        )  # fmt: skip
        if known is None or _coarse(event) != _coarse(known):
            self._record(event)

    def flag_minor(self, *, by_centre: Centre, reason: MinorFlagReason, on: date,
                   kind: MinorKind = MinorKind.UNACCOMPANIED) -> None:  # fmt: skip
        """A minor must be referred to the Guardianship Service (DOMAIN §1: any minor), so the flag always
        records that request too, whether the minor is admitted or sent to a youth centre. After admission the
        flag is the case fact ``MinorityEstablished`` as well, which legal and the others apply."""
        self._require_target_centre(by_centre)
        self._require_status(_OPEN, "a closed referral cannot be flagged")
        if self.minor:
            raise RuleViolation("the person is already flagged as a minor", field="minor")
        self._not_before(on, self.submitted_on, "the submission")
        if self.case_id is not None:
            self._record(MinorityEstablished(case_id=self.case_id, kind=kind, basis=reason, established_on=on))
        self._record(MinorFlagged(referral_id=self.id, case_id=self.case_id, reason=reason, kind=kind,
                                  flagged_on=on))  # fmt: skip
        self._request_guardianship(kind, reason, on)

    # --- minority, a case fact (after admission) -----------------------------------------------------------

    def establish_minority(self, *, by_centre: Centre | None, kind: MinorKind, basis: MinorFlagReason,
                           on: date) -> None:  # fmt: skip
        """The person is a minor of ``kind`` (an age assessment, a birth certificate found; or an accompanied
        minor found to be alone). ``by_centre=None``: the Guardianship Service's own age determination."""
        self._require_case(by_centre)
        if self.minor_kind is kind:
            raise RuleViolation(f"the person is already established as an {kind} minor", field="kind")
        self._record(MinorityEstablished(case_id=self.case_id, kind=kind, basis=basis, established_on=on))
        self._request_guardianship(kind, basis, on)

    def disprove_minority(self, *, by_centre: Centre | None, basis: MinorFlagReason, on: date) -> None:
        """The person is not a minor after all. A document already issued stays as it is (legal decides)."""
        self._require_case(by_centre)
        if self.minor_kind is None:
            raise RuleViolation("no minority is established on this case, so none can be disproved",
                                field="minority")  # fmt: skip
        self._record(MinorityDisproved(case_id=self.case_id, basis=basis, disproved_on=on))

    def _request_guardianship(self, kind: MinorKind, basis: MinorFlagReason, on: date) -> None:
        # Any minor is referred once; an accompanied minor found to be alone again, as a guardian is now due.
        asked = self.guardianship_requested_for
        if asked is None or (asked is MinorKind.ACCOMPANIED and kind is MinorKind.UNACCOMPANIED):
            self._record(GuardianshipReferralRequested(referral_id=self.id, case_id=self.case_id, reason=basis,
                                                       kind=kind, requested_on=on))  # fmt: skip

    def _require_case(self, by_centre: Centre | None) -> None:
        if self.status is None:
            raise NotFound(f"referral {self.id} not found")
        if by_centre is not None:
            self._require_target_centre(by_centre)
        if self.status is not ReferralStatus.ADMITTED or self.case_id is None:
            raise RuleViolation("minority is a fact of an admitted case", field="status")

    # --- admission -------------------------------------------------------------------------------------

    def admit(
        self,
        *,
        by_centre: Centre,
        eu_citizen: bool,
        on: date,
        case_id: str | None = None,
        person_id: str | None = None,
        exploitation_types: Iterable[ExploitationType] | None = None,
    ) -> None:
        """Take the person in and open the case. ``exploitation_types`` may correct the referrer's view
        after the interview; an anonymous person still gets a pseudonymous ``person_id``."""
        self._require_target_centre(by_centre)
        if self.status is ReferralStatus.ADMITTED:
            raise RuleViolation("the person is already admitted on this referral", field="status")
        if self.status in (ReferralStatus.DECLINED, ReferralStatus.REDIRECTED):
            raise RuleViolation(f"a {self.status} referral cannot be admitted", field="status")
        if self.status is not ReferralStatus.ACCEPTED:
            raise RuleViolation("a referral is accepted before admission", field="status")
        if self.last_interview_on is None:
            raise RuleViolation("admission needs an intake interview first", field="intake_interview")
        # Accepting guidance by a recognised centre is a condition of the victim status (Law 15 Dec 1980).
        if ConsentScope.GUIDANCE not in self.consents:
            raise RuleViolation("admission needs the person's consent to guidance", field="consent")
        self._not_before(on, self.last_interview_on, "the intake interview")
        if person_id is not None and self.person_id is not None and person_id != self.person_id:
            raise RuleViolation("this referral already concerns another person", field="person_id")
        types = self.exploitation_types if exploitation_types is None else tuple(exploitation_types)
        submitted = self.submission
        assert submitted is not None  # an accepted referral was submitted
        self._record(
            CaseOpened(
                case_id=case_id or str(uuid4()),
                referral_id=self.id,
                centre=by_centre,
                person_id=self.person_id or person_id or str(uuid4()),
                # CaseOpened.minor has always meant an unaccompanied minor (3 months, a guardian): it keeps that
                # meaning for legal, tracks and housing; any other minor follows as a case fact in this append.
                minor=self.minor_kind is MinorKind.UNACCOMPANIED,
                eu_citizen=eu_citizen,
                exploitation_types=types,
                urgency=self.urgency,
                needs_shelter_tonight=Urgency.NEEDS_SHELTER_TONIGHT in self.urgency,
                referring_organisation_id=submitted.referring_organisation_id,
                referrer_file_number=submitted.referrer_file_number,
                region=submitted.region,
                opened_on=on,
            )
        )
        if self.profile is not None:
            # The profile recorded on the referral, now under the case statistics counts (keyed by it).
            assert self.case_id is not None  # applied CaseOpened
            self._record(self.profile.model_copy(update={"case_id": self.case_id, "profiled_on": on}))
        if self.minor_kind is MinorKind.ACCOMPANIED:
            assert self.case_id is not None and self.minor_basis is not None  # applied CaseOpened; flagged
            self._record(MinorityEstablished(case_id=self.case_id, kind=MinorKind.ACCOMPANIED,
                                             basis=self.minor_basis, established_on=on))  # fmt: skip

    # --- guards -------------------------------------------------------------------------------------------

    def _require_target_centre(self, by_centre: Centre) -> None:
        if self.status is None:
            raise NotFound(f"referral {self.id} not found")
        # Another centre must not act on (or learn through errors more about) a referral that is not its own.
        if by_centre != (self.holder or self.target_centre):
            raise RuleViolation("only the centre the referral is addressed to may act on it", field="centre")

    def _require_undecided(self) -> None:
        if self.status is not ReferralStatus.SUBMITTED:
            raise RuleViolation(f"the referral was already decided ({self.status})", field="status")

    def _require_status(self, allowed: Iterable[ReferralStatus], detail: str) -> None:
        if self.status is None:
            raise NotFound(f"referral {self.id} not found")
        if self.status not in set(allowed):
            raise RuleViolation(f"{detail} (the referral is {self.status})", field="status")

    @staticmethod
    def _not_before(on: date, earliest: date | None, what: str) -> None:
        if earliest is not None and on < earliest:
            raise RuleViolation(f"the date {on} is before {what} ({earliest})", field="on")

    # --- state ----------------------------------------------------------------------------------------------

    def apply(self, event: DomainEvent) -> None:
        match event:
            case ReferralSubmitted():
                self.status = ReferralStatus.SUBMITTED
                self.submission = event
                self.target_centre = event.target_centre
                self.exploitation_types = event.exploitation_types
                self.signal_ids = event.signal_ids
                self.urgency = event.urgency
                self.submitted_on = event.submitted_on
                self.screening = event.screening
                if event.circumstances is not None:
                    self.person_id = event.circumstances.person_id
            case ReferralScreened():
                self.screened = True
                self.signal_ids = event.signal_ids
                self.screening = event.screening
            case ReferralAccepted():
                self.status = ReferralStatus.ACCEPTED
            case ReferralDeclined():
                self.status = ReferralStatus.DECLINED
                self.decline_reason = event.reason
            case ReferralRedirected():
                self.status = ReferralStatus.REDIRECTED
                self.redirected_to = event.to_centre
            case IntakeInterviewHeld():
                self.last_interview_on = event.held_on
            case ConsentGiven():
                self.consents.add(event.scope)
            case ConsentWithdrawn():
                self.consents.discard(event.scope)
            case IdentityCaptured():
                self.person_id = event.person_id
            case CaseProfiled():
                self.profile = event
            case MinorFlagged():
                self.minor = True
                self.minor_kind = event.kind
                self.minor_basis = event.reason
                self.minority_established_on = event.flagged_on
            case MinorityEstablished():
                self.minor = True
                self.minor_kind = event.kind
                self.minor_basis = event.basis
                self.minority_established_on = event.established_on
            case MinorityDisproved():
                self.minor = False
                self.minor_kind = None
                self.minor_basis = None
                self.minority_established_on = None
                self.guardianship_requested_for = None  # a minority established again is referred again
            case GuardianshipReferralRequested():
                # Before issue 13 every request was for an unaccompanied minor (the only kind then known).
                self.guardianship_requested_for = event.kind or MinorKind.UNACCOMPANIED
                self.referred_to_guardianship = True
            case CaseOpened():
                self.status = ReferralStatus.ADMITTED
                self.case_id = event.case_id
                self.person_id = event.person_id
                self.exploitation_types = event.exploitation_types
                self.opened_on = event.opened_on
            case _:
                raise TypeError(f"Referral does not handle {type(event).__name__}")


def _coarse(event: CaseProfiled) -> tuple[str, ...]:
    return (event.sex, event.age_band, event.citizenship, event.world_region)


class Person(Aggregate):
    """A person across referrals and cases; its stream records only what must outlive the person's data."""

    stream_type = "person"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.erased_on: date | None = None
        self._case_key: str | None = None

    @property
    def erased(self) -> bool:
        return self.erased_on is not None

    @property
    def case_key(self) -> str:
        # The erasure travels on the partition of the person's case (after the events that carried their data).
        return self._case_key or self.id

    def erase(self, *, reason: ErasureReason, on: date, case_key: str | None = None) -> None:
        """Record the erasure; destroying the person's key is the PII layer's part of the same command.

        ``case_key`` is the person's case id (or referral id before admission), the Kafka key of the event."""
        if self.erased:
            raise RuleViolation("the person's data are already erased", field="person_id")
        self._case_key = case_key
        self._record(PersonErased(person_id=self.id, reason=reason, erased_on=on))

    def apply(self, event: DomainEvent) -> None:
        match event:
            case PersonErased():
                self.erased_on = event.erased_on
            case _:
                raise TypeError(f"Person does not handle {type(event).__name__}")


class LeadStatus(StrEnum):
    OPEN = "open"
    TAKEN_UP = "taken-up"
    CLOSED = "closed"


class Lead(Aggregate):
    """A tip from the public for the recognised centre of its region: open until the centre takes it up (a
    referral of its own) or closes it with a reason. Its id is the tip's, so a tip makes one lead at most."""

    stream_type = "lead"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.status: LeadStatus | None = None
        self.centre: Centre | None = None
        self.region: Region | None = None
        self.exploitation_types: tuple[ExploitationType, ...] = ()
        self.signal_ids: tuple[str, ...] = ()
        self.received_on: date | None = None
        self.referral_id: str | None = None

    def open(
        self,
        *,
        centre: Centre,
        region: Region,
        postcode: str,
        seen_on: date | None,
        exploitation_types: Iterable[ExploitationType],
        signal_ids: Iterable[str],
        catalogue_version: str,
        submitted_on: date,
        on: date,
    ) -> None:
        if self.exists:
            raise RuleViolation("this tip is a lead already", field="lead_id")
        self._record(LeadOpened(lead_id=self.id, centre=centre, region=region, postcode=postcode, seen_on=seen_on,
                                exploitation_types=tuple(exploitation_types), signal_ids=tuple(signal_ids),
                                catalogue_version=catalogue_version, submitted_on=submitted_on,
                                received_on=on))  # fmt: skip

    def take_up(self, *, by_centre: Centre, referral_id: str, on: date) -> None:
        """The centre acts on the tip: ``referral_id`` is the referral it submits in the same transaction."""
        self._require_open(by_centre, on)
        self._record(LeadTakenUp(lead_id=self.id, centre=by_centre, referral_id=referral_id, taken_up_on=on))

    def close(self, *, by_centre: Centre, reason: LeadCloseReason, on: date) -> None:
        self._require_open(by_centre, on)
        self._record(LeadClosed(lead_id=self.id, centre=by_centre, reason=reason, closed_on=on))

    def _require_open(self, by_centre: Centre, on: date) -> None:
        if self.centre is None:
            raise NotFound(f"no lead {self.id}")
        if by_centre != self.centre:  # the application answers 404 first; the domain never lets it through
            raise NotFound(f"no lead {self.id}")
        if self.status is not LeadStatus.OPEN:
            raise RuleViolation(f"the lead is {self.status.value if self.status else 'unknown'}, not open",
                                field="status")  # fmt: skip
        if self.received_on is not None and on < self.received_on:
            raise RuleViolation("a lead cannot be decided before it was received", field="on")

    def apply(self, event: DomainEvent) -> None:
        match event:
            case LeadOpened():
                self.status = LeadStatus.OPEN
                self.centre = event.centre
                self.region = event.region
                self.exploitation_types = event.exploitation_types
                self.signal_ids = event.signal_ids
                self.received_on = event.received_on
            case LeadTakenUp():
                self.status = LeadStatus.TAKEN_UP
                self.referral_id = event.referral_id
            case LeadClosed():
                self.status = LeadStatus.CLOSED
            case _:
                raise TypeError(f"Lead does not handle {type(event).__name__}")
