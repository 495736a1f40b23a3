"""Intake domain rules: referral, screening, the centre's decision, admission, consent, identity, erasure."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from enum import Enum
from uuid import uuid4

import pytest
from pydantic import ValidationError

import schemas.intake as contracts
from harbour.errors import NotFound, RuleViolation
from harbour.events import EVENT_TYPES, DomainEvent
from harbour.pii import Sealed
from schemas.intake import (
    AgeBand,
    CaseOpened,
    CaseProfiled,
    Centre,
    CitizenshipGroup,
    ConsentScope,
    DeclineReason,
    ErasureReason,
    ExploitationType,
    GuardianshipReferralRequested,
    IdentityCaptured,
    MinorFlagged,
    MinorFlagReason,
    PersonErased,
    Recommendation,
    RedirectReason,
    RedirectTarget,
    ReferralScreened,
    ReferralSubmitted,
    Region,
    Sex,
    SignalCategory,
    Urgency,
    WorldRegion,
)
from services.intake import Person, Referral, ReferralStatus
from services.intake.profile import ProfileInput
from services.intake.screening import TAKE_IN_THRESHOLD, load_catalogue, parse_catalogue, screen

D0 = date(2026, 1, 5)
PERSON = "person-1"
HOME = Centre.PAYOKE
OTHER = Centre.SURYA
TWO_SIGNALS = ("movement-and-control.no-freedom-of-movement", "work-and-living-conditions.sleeping-at-workplace")


def sealed(person_id: str = PERSON) -> Sealed:
    return Sealed(person_id=person_id, key_version=1, nonce="bm9uY2U=", ciphertext="Y2lwaGVy")


def submitted(**overrides: typing.Any) -> Referral:
    referral = Referral("ref-1")
    args: dict[str, typing.Any] = {
        "referring_organisation_id": "police-antwerp",
        "referrer_file_number": "AN.12.L1.012345/2026",
        "region": Region.FLANDERS,
        "target_centre": HOME,
        "exploitation_types": (ExploitationType.LABOUR_EXPLOITATION,),
        "signal_ids": TWO_SIGNALS,
        "urgency": (Urgency.NEEDS_SHELTER_TONIGHT,),
        "on": D0,
    }
    referral.submit(**(args | overrides))
    return referral


def accepted() -> Referral:
    referral = submitted()
    referral.screen(by_centre=HOME, on=D0)
    referral.accept(by_centre=HOME, on=D0)
    return referral


def ready_to_admit() -> Referral:
    referral = accepted()
    referral.hold_intake_interview(by_centre=HOME, on=D0 + timedelta(days=1))
    referral.give_consent(by_centre=HOME, scope=ConsentScope.GUIDANCE, on=D0 + timedelta(days=1))
    return referral


def admitted() -> Referral:
    referral = ready_to_admit()
    referral.admit(by_centre=HOME, eu_citizen=False, on=D0 + timedelta(days=1), case_id="case-1")
    return referral


def last(referral: Referral) -> DomainEvent:
    return referral.pending()[-1]


@contextmanager
def refused(field: str) -> Iterator[None]:
    """Expect a RuleViolation that names ``field``, so the API can point the caller at it."""
    with pytest.raises(RuleViolation) as info:
        yield
    assert info.value.field == field, info.value.detail


# --- submission ---------------------------------------------------------------------------------------


def test_a_submitted_referral_records_the_referrers_facts_and_their_screening() -> None:
    event = last(submitted())
    assert isinstance(event, ReferralSubmitted)
    assert event.target_centre is HOME
    assert event.screening.recommendation is Recommendation.TAKE_IN
    assert event.screening.catalogue_version == "v1"


def test_a_referral_cannot_be_submitted_twice() -> None:
    referral = submitted()
    with refused("referral_id"):
        referral.submit(referring_organisation_id="x", region=Region.FLANDERS, target_centre=HOME, on=D0)


def test_a_signal_outside_the_catalogue_is_refused() -> None:
    with refused("signal_ids"):
        submitted(signal_ids=("recruitment.not-a-signal",))


def test_the_sealed_circumstances_tie_the_referral_to_one_person() -> None:
    referral = submitted(circumstances=sealed())
    assert referral.person_id == PERSON


def test_a_referrer_file_number_that_looks_like_free_text_is_refused() -> None:
    with pytest.raises(ValidationError):
        submitted(referrer_file_number="Jane Doe, born 2001, from Lagos")


def test_code_sets_are_stored_sorted_and_without_duplicates() -> None:
    event = last(submitted(urgency=(Urgency.NEEDS_SHELTER_TONIGHT, Urgency.IMMEDIATE_DANGER, Urgency.IMMEDIATE_DANGER)))
    assert event.urgency == (Urgency.IMMEDIATE_DANGER, Urgency.NEEDS_SHELTER_TONIGHT)


def test_a_command_on_a_referral_never_submitted_is_not_found() -> None:
    with pytest.raises(NotFound):
        Referral("nope").accept(by_centre=HOME, on=D0)


# --- screening ----------------------------------------------------------------------------------------


def test_two_signals_together_recommend_taking_the_person_in() -> None:
    assert TAKE_IN_THRESHOLD == 2
    assert screen(load_catalogue(), TWO_SIGNALS).recommendation is Recommendation.TAKE_IN


def test_a_single_signal_recommends_gathering_more_information() -> None:
    summary = screen(load_catalogue(), TWO_SIGNALS[:1])
    assert summary.recommendation is Recommendation.GATHER_MORE_INFORMATION


def test_a_repeated_signal_counts_once() -> None:
    summary = screen(load_catalogue(), (TWO_SIGNALS[0], TWO_SIGNALS[0]))
    assert summary.signal_count == 1
    assert summary.recommendation is Recommendation.GATHER_MORE_INFORMATION


def test_screening_counts_signals_per_category_and_lists_every_category() -> None:
    summary = screen(load_catalogue(), TWO_SIGNALS)
    assert set(summary.counts) == set(SignalCategory)
    assert summary.counts[SignalCategory.MOVEMENT_AND_CONTROL] == 1
    assert summary.counts[SignalCategory.RECRUITMENT] == 0


def test_the_centre_may_add_signals_it_found_itself_when_screening() -> None:
    referral = submitted(signal_ids=TWO_SIGNALS[:1])
    referral.screen(by_centre=HOME, on=D0, added_signal_ids=["violence-and-threats.signs-of-violence"])
    event = last(referral)
    assert isinstance(event, ReferralScreened)
    assert event.screening.signal_count == 2
    assert event.screening.recommendation is Recommendation.TAKE_IN


def test_a_referral_is_screened_once() -> None:
    referral = submitted()
    referral.screen(by_centre=HOME, on=D0)
    with refused("screening"):
        referral.screen(by_centre=HOME, on=D0)


def test_only_the_target_centre_screens_a_referral() -> None:
    with refused("centre"):
        submitted().screen(by_centre=OTHER, on=D0)


def test_screening_after_the_decision_is_refused() -> None:
    referral = submitted()
    referral.decline(by_centre=HOME, reason=DeclineReason.DUPLICATE_REFERRAL, on=D0)
    with refused("status"):
        referral.screen(by_centre=HOME, on=D0)


def test_the_packaged_catalogue_draws_on_payoke_and_the_ilo_in_every_category() -> None:
    catalogue = load_catalogue("v1")
    assert {c.id for c in catalogue.categories} == set(SignalCategory)
    assert {"payoke", "ilo-2012", "ilo-ec-2009"} <= set(catalogue.sources)
    mapped = {s.exploitation_type for c in catalogue.categories for s in c.signals if s.exploitation_type}
    assert mapped == set(ExploitationType)


def _catalogue_document() -> dict[str, typing.Any]:
    return load_catalogue().model_dump(mode="json")


def test_a_catalogue_missing_a_category_is_refused_when_loaded() -> None:
    document = _catalogue_document()
    document["categories"] = document["categories"][:-1]
    with pytest.raises(ValidationError):
        parse_catalogue(document)


def test_a_catalogue_with_a_duplicated_signal_is_refused_when_loaded() -> None:
    document = _catalogue_document()
    document["categories"][0]["signals"].append(document["categories"][1]["signals"][0])
    with pytest.raises(ValidationError):
        parse_catalogue(document)


# --- the centre's decision ------------------------------------------------------------------------------


def test_a_referral_is_accepted_only_after_screening() -> None:
    with refused("screening"):
        submitted().accept(by_centre=HOME, on=D0)


@pytest.mark.parametrize("decide", ["accept", "decline", "redirect"])
def test_only_the_centre_the_referral_is_addressed_to_decides(decide: str) -> None:
    referral = submitted()
    referral.screen(by_centre=HOME, on=D0)
    with refused("centre"):
        _decide(referral, decide, OTHER)


@pytest.mark.parametrize("first", ["accept", "decline", "redirect"])
@pytest.mark.parametrize("second", ["accept", "decline", "redirect"])
def test_a_referral_is_decided_only_once(first: str, second: str) -> None:
    referral = submitted()
    referral.screen(by_centre=HOME, on=D0)
    _decide(referral, first, HOME)
    with refused("status"):
        _decide(referral, second, HOME)


def _decide(referral: Referral, how: str, centre: Centre) -> None:
    match how:
        case "accept":
            referral.accept(by_centre=centre, on=D0)
        case "decline":
            referral.decline(by_centre=centre, reason=DeclineReason.INSUFFICIENT_SIGNALS, on=D0)
        case "redirect":
            referral.redirect(by_centre=centre, to_centre=RedirectTarget.PAG_ASA, reason=RedirectReason.REGION, on=D0)


def test_a_decision_dated_before_the_submission_is_refused() -> None:
    with refused("on"):
        submitted().decline(by_centre=HOME, reason=DeclineReason.PERSON_UNREACHABLE, on=D0 - timedelta(days=1))


def test_a_referral_cannot_be_redirected_to_the_centre_that_holds_it() -> None:
    with refused("to_centre"):
        submitted().redirect(by_centre=HOME, to_centre=RedirectTarget.PAYOKE, reason=RedirectReason.CAPACITY, on=D0)


def test_a_minor_may_be_redirected_to_a_youth_centre() -> None:
    referral = submitted()
    referral.flag_minor(by_centre=HOME, reason=MinorFlagReason.DECLARED_AGE, on=D0)
    referral.redirect(
        by_centre=HOME, to_centre=RedirectTarget.YOUTH_CENTRE, reason=RedirectReason.MINOR_TO_YOUTH_CENTRE, on=D0
    )
    assert referral.status is ReferralStatus.REDIRECTED
    assert referral.redirected_to is RedirectTarget.YOUTH_CENTRE


def test_a_person_not_flagged_as_a_minor_is_not_redirected_to_a_youth_centre() -> None:
    with refused("to_centre"):
        submitted().redirect(
            by_centre=HOME, to_centre=RedirectTarget.YOUTH_CENTRE, reason=RedirectReason.MINOR_TO_YOUTH_CENTRE, on=D0
        )


def test_the_minor_reason_goes_with_a_youth_centre_and_nowhere_else() -> None:
    with refused("reason"):
        submitted().redirect(
            by_centre=HOME, to_centre=RedirectTarget.SURYA, reason=RedirectReason.MINOR_TO_YOUTH_CENTRE, on=D0
        )


# --- interview and consent -------------------------------------------------------------------------------


def test_an_intake_interview_needs_an_accepted_referral() -> None:
    with refused("status"):
        submitted().hold_intake_interview(by_centre=HOME, on=D0)


def test_consent_is_not_recorded_before_the_centre_accepts_the_person() -> None:
    with refused("status"):
        submitted().give_consent(by_centre=HOME, scope=ConsentScope.GUIDANCE, on=D0)


def test_the_same_consent_cannot_be_given_twice() -> None:
    referral = accepted()
    referral.give_consent(by_centre=HOME, scope=ConsentScope.CONTACT_BY_PHONE, on=D0)
    with refused("scope"):
        referral.give_consent(by_centre=HOME, scope=ConsentScope.CONTACT_BY_PHONE, on=D0)


def test_a_consent_that_was_never_given_cannot_be_withdrawn() -> None:
    with refused("scope"):
        accepted().withdraw_consent(by_centre=HOME, scope=ConsentScope.CONTACT_BY_PHONE, on=D0)


def test_data_sharing_is_refused_before_consent_to_it() -> None:
    referral = admitted()
    assert not referral.has_consent(ConsentScope.DATA_SHARING_JUSTICE)
    with refused("consent"):
        referral.require_data_sharing_consent()


def test_data_sharing_is_allowed_once_the_person_consents_and_refused_after_withdrawal() -> None:
    referral = admitted()
    referral.give_consent(by_centre=HOME, scope=ConsentScope.DATA_SHARING_JUSTICE, on=D0 + timedelta(days=2))
    referral.require_data_sharing_consent()
    referral.withdraw_consent(by_centre=HOME, scope=ConsentScope.DATA_SHARING_JUSTICE, on=D0 + timedelta(days=3))
    with refused("consent"):
        referral.require_consent(ConsentScope.DATA_SHARING_JUSTICE)


def test_consent_changes_after_admission_name_the_case() -> None:
    referral = admitted()
    referral.withdraw_consent(by_centre=HOME, scope=ConsentScope.GUIDANCE, on=D0 + timedelta(days=9))
    assert last(referral).case_id == "case-1"


# --- identity and minors -----------------------------------------------------------------------------------


def test_identity_is_captured_in_sealed_fields_only() -> None:
    referral = accepted()
    event_id = uuid4()
    referral.capture_identity(person_id=PERSON, by_centre=HOME, on=D0, event_id=event_id, names=sealed())
    assert referral.pending_with_ids()[-1][0] == event_id  # the id the values were sealed with
    with pytest.raises(ValidationError):
        IdentityCaptured(referral_id="r", person_id=PERSON, names="Jane Doe", captured_on=D0)  # type: ignore[arg-type]


def test_a_value_sealed_under_another_persons_key_is_refused() -> None:
    with refused("phone"):
        accepted().capture_identity(person_id=PERSON, by_centre=HOME, on=D0, phone=sealed("person-2"))


def test_a_referral_concerns_one_person_only() -> None:
    referral = submitted(circumstances=sealed())
    with refused("person_id"):
        referral.capture_identity(person_id="person-2", on=D0, names=sealed("person-2"))


def test_capturing_an_empty_identity_is_refused() -> None:
    with refused("identity"):
        accepted().capture_identity(person_id=PERSON, by_centre=HOME, on=D0, names=None)


def test_an_unknown_identity_field_is_refused() -> None:
    with refused("address"):
        accepted().capture_identity(person_id=PERSON, by_centre=HOME, on=D0, address=sealed())


def test_the_referrer_passes_on_identity_only_until_the_decision() -> None:
    referral = submitted()
    referral.capture_identity(person_id=PERSON, on=D0, nationality=sealed(), clear=ProfileInput(nationality="NG"))
    referral.screen(by_centre=HOME, on=D0)
    referral.accept(by_centre=HOME, on=D0)
    with refused("status"):
        referral.capture_identity(person_id=PERSON, on=D0, aliases=sealed())


def test_identity_is_not_captured_on_a_declined_referral() -> None:
    referral = submitted()
    referral.decline(by_centre=HOME, reason=DeclineReason.OUTSIDE_MANDATE, on=D0)
    with refused("status"):
        referral.capture_identity(person_id=PERSON, by_centre=HOME, on=D0, names=sealed())


# --- the coarse profile (CaseProfiled, for the statistics) ---------------------------------------------------


def profiled(referral: Referral, on: date = D0, **clear: typing.Any) -> list[DomainEvent]:
    """Capture ``clear`` (sealed too, as the API does) and return what the capture recorded."""
    before = len(referral.pending())
    referral.capture_identity(person_id=PERSON, by_centre=HOME, on=on, clear=ProfileInput(**clear),
                              **{name: sealed() for name in clear})  # fmt: skip
    return referral.pending()[before:]


def test_a_capture_of_sex_birth_and_nationality_records_their_bands_and_never_the_values() -> None:
    captured, profile = profiled(accepted(), sex=Sex.FEMALE, date_of_birth=date(2010, 6, 1), nationality="RO")
    assert isinstance(captured, IdentityCaptured) and isinstance(profile, CaseProfiled)
    assert (profile.sex, profile.age_band, profile.citizenship, profile.world_region) == (
        Sex.FEMALE, AgeBand.FROM_12_TO_17, CitizenshipGroup.EU, WorldRegion.EUROPE)  # fmt: skip
    assert profile.case_id is None and profile.referral_id == "ref-1"
    text = profile.model_dump_json()
    assert "2010" not in text and "RO" not in text and PERSON not in text


def test_the_age_band_is_the_age_on_the_day_the_person_was_referred_not_on_the_day_of_capture() -> None:
    # Referred on D0 (5 Jan 2026) the day before turning 12; captured a month later, when 12.
    (_, profile) = profiled(accepted(), on=D0 + timedelta(days=30), date_of_birth=date(2014, 1, 6))
    assert profile.age_band is AgeBand.UNDER_12 and profile.sex is Sex.UNKNOWN
    assert profile.citizenship is CitizenshipGroup.UNKNOWN and profile.world_region is WorldRegion.UNKNOWN


def test_a_capture_that_changes_no_band_records_no_profile_and_a_correction_records_the_whole_profile() -> None:
    referral = accepted()
    profiled(referral, sex=Sex.MALE, nationality="NG")
    assert [type(e) for e in profiled(referral, nationality="NG")] == [IdentityCaptured]  # the same bands
    (_, corrected) = profiled(referral, date_of_birth=date(1990, 1, 1))
    assert (corrected.sex, corrected.age_band, corrected.citizenship, corrected.world_region) == (
        Sex.MALE, AgeBand.FROM_35_TO_44, CitizenshipGroup.NON_EU, WorldRegion.AFRICA)  # fmt: skip
    (_, moved) = profiled(referral, nationality="BR")
    assert (moved.sex, moved.age_band, moved.world_region) == (Sex.MALE, AgeBand.FROM_35_TO_44, WorldRegion.AMERICAS)


def test_a_capture_of_other_fields_alone_records_no_profile() -> None:
    referral = accepted()
    referral.capture_identity(person_id=PERSON, by_centre=HOME, on=D0, names=sealed())
    assert not any(isinstance(e, CaseProfiled) for e in referral.pending())


@pytest.mark.parametrize("name", ["sex", "date_of_birth", "nationality"])
def test_a_profile_field_sealed_without_its_clear_value_or_the_reverse_is_refused(name: str) -> None:
    with refused(name):
        accepted().capture_identity(person_id=PERSON, by_centre=HOME, on=D0, **{name: sealed()})
    clear = {"sex": Sex.OTHER, "date_of_birth": date(2000, 1, 1), "nationality": "BE"}[name]
    with refused(name):
        accepted().capture_identity(person_id=PERSON, by_centre=HOME, on=D0, names=sealed(),
                                    clear=ProfileInput(**{name: clear}))  # fmt: skip


def test_admission_records_the_referrals_profile_again_under_the_case_and_a_later_capture_names_the_case() -> None:
    referral = ready_to_admit()
    profiled(referral, sex=Sex.FEMALE, nationality="VN")
    referral.admit(by_centre=HOME, eu_citizen=False, on=D0 + timedelta(days=2), case_id="case-1")
    opened, profile = referral.pending()[-2:]
    assert isinstance(opened, CaseOpened) and isinstance(profile, CaseProfiled)
    assert (profile.case_id, profile.sex, profile.world_region, profile.profiled_on) == (
        "case-1", Sex.FEMALE, WorldRegion.ASIA, D0 + timedelta(days=2))  # fmt: skip
    (_, later) = profiled(referral, on=D0 + timedelta(days=3), date_of_birth=date(2001, 2, 3))
    assert later.case_id == "case-1" and later.age_band is AgeBand.FROM_18_TO_24 and later.sex is Sex.FEMALE


def test_an_admission_without_any_profile_records_none() -> None:
    referral = ready_to_admit()
    referral.admit(by_centre=HOME, eu_citizen=True, on=D0 + timedelta(days=2), case_id="case-1")
    assert not any(isinstance(e, CaseProfiled) for e in referral.pending())


def test_flagging_a_minor_also_requests_a_guardianship_referral() -> None:
    referral = accepted()
    referral.flag_minor(by_centre=HOME, reason=MinorFlagReason.IDENTITY_DOCUMENT, on=D0)
    flagged, guardianship = referral.pending()[-2:]
    assert isinstance(flagged, MinorFlagged)
    assert isinstance(guardianship, GuardianshipReferralRequested)
    assert guardianship.reason is MinorFlagReason.IDENTITY_DOCUMENT


def test_a_minor_is_flagged_once() -> None:
    referral = accepted()
    referral.flag_minor(by_centre=HOME, reason=MinorFlagReason.DECLARED_AGE, on=D0)
    with refused("minor"):
        referral.flag_minor(by_centre=HOME, reason=MinorFlagReason.AGE_ASSESSMENT, on=D0)


def test_a_minor_found_after_admission_is_referred_to_guardianship_by_case_id() -> None:
    referral = admitted()
    referral.flag_minor(by_centre=HOME, reason=MinorFlagReason.AGE_ASSESSMENT, on=D0 + timedelta(days=5))
    assert last(referral).case_id == "case-1"


# --- admission ---------------------------------------------------------------------------------------------


def test_admission_opens_the_case_with_the_referrals_facts() -> None:
    referral = ready_to_admit()
    referral.flag_minor(by_centre=HOME, reason=MinorFlagReason.DECLARED_AGE, on=D0)
    referral.admit(by_centre=HOME, eu_citizen=True, on=D0 + timedelta(days=1), case_id="case-1")
    event = last(referral)
    assert isinstance(event, CaseOpened)
    assert (event.case_id, event.referral_id, event.centre) == ("case-1", "ref-1", HOME)
    assert event.minor and event.eu_citizen and event.needs_shelter_tonight
    assert event.referrer_file_number == "AN.12.L1.012345/2026"
    assert event.exploitation_types == (ExploitationType.LABOUR_EXPLOITATION,)


def test_the_stream_is_keyed_by_the_referral_until_admission_and_by_the_case_after() -> None:
    referral = ready_to_admit()
    assert referral.case_key == "ref-1"
    referral.admit(by_centre=HOME, eu_citizen=False, on=D0 + timedelta(days=1), case_id="case-1")
    assert referral.case_key == "case-1"


def test_a_declined_referral_cannot_be_admitted() -> None:
    referral = submitted()
    referral.decline(by_centre=HOME, reason=DeclineReason.PERSON_DECLINES_GUIDANCE, on=D0)
    with refused("status"):
        referral.admit(by_centre=HOME, eu_citizen=False, on=D0)


def test_a_redirected_referral_cannot_be_admitted() -> None:
    referral = submitted()
    referral.redirect(by_centre=HOME, to_centre=RedirectTarget.SURYA, reason=RedirectReason.REGION, on=D0)
    with refused("status"):
        referral.admit(by_centre=HOME, eu_citizen=False, on=D0)


def test_a_person_cannot_be_admitted_twice_on_one_referral() -> None:
    with refused("status"):
        admitted().admit(by_centre=HOME, eu_citizen=False, on=D0 + timedelta(days=2))


def test_a_referral_is_accepted_before_admission() -> None:
    with refused("status"):
        submitted().admit(by_centre=HOME, eu_citizen=False, on=D0)


def test_admission_needs_an_intake_interview() -> None:
    referral = accepted()
    referral.give_consent(by_centre=HOME, scope=ConsentScope.GUIDANCE, on=D0)
    with refused("intake_interview"):
        referral.admit(by_centre=HOME, eu_citizen=False, on=D0)


def test_admission_needs_consent_to_guidance() -> None:
    referral = accepted()
    referral.hold_intake_interview(by_centre=HOME, on=D0)
    referral.give_consent(by_centre=HOME, scope=ConsentScope.DATA_SHARING_JUSTICE, on=D0)
    with refused("consent"):
        referral.admit(by_centre=HOME, eu_citizen=False, on=D0)


def test_admission_dated_before_the_intake_interview_is_refused() -> None:
    with refused("on"):
        ready_to_admit().admit(by_centre=HOME, eu_citizen=False, on=D0)


def test_another_centre_cannot_admit_the_person() -> None:
    with refused("centre"):
        ready_to_admit().admit(by_centre=OTHER, eu_citizen=False, on=D0 + timedelta(days=1))


def test_an_anonymous_person_gets_a_pseudonymous_id_and_an_identified_one_keeps_theirs() -> None:
    anonymous = admitted()
    assert anonymous.person_id and last(anonymous).person_id == anonymous.person_id
    known = ready_to_admit()
    known.capture_identity(person_id=PERSON, by_centre=HOME, on=D0, names=sealed())
    known.admit(by_centre=HOME, eu_citizen=False, on=D0 + timedelta(days=1))
    assert last(known).person_id == PERSON


def test_the_centre_may_correct_the_exploitation_types_on_admission() -> None:
    referral = ready_to_admit()
    corrected = [ExploitationType.FORCED_CRIMINALITY, ExploitationType.EXPLOITATION_OF_SURROGACY]
    referral.admit(by_centre=HOME, eu_citizen=False, on=D0 + timedelta(days=1), exploitation_types=corrected)
    assert set(last(referral).exploitation_types) == set(corrected)


def test_a_case_whose_shelter_flag_contradicts_its_urgency_is_refused() -> None:
    event = last(admitted())
    with pytest.raises(ValidationError):
        CaseOpened.model_validate(event.model_dump() | {"needs_shelter_tonight": False})


# --- erasure and the contracts -------------------------------------------------------------------------------


def test_erasing_a_person_records_only_the_id_reason_and_date() -> None:
    person = Person(PERSON)
    person.erase(reason=ErasureReason.PERSON_REQUEST, on=D0)
    assert last(person) == PersonErased(person_id=PERSON, reason=ErasureReason.PERSON_REQUEST, erased_on=D0)
    assert person.erased


def test_a_person_is_erased_once() -> None:
    person = Person(PERSON)
    person.erase(reason=ErasureReason.RETENTION_ENDED, on=D0)
    with refused("person_id"):
        person.erase(reason=ErasureReason.PERSON_REQUEST, on=D0)


def test_an_erasure_travels_under_the_persons_case_and_under_the_person_without_one() -> None:
    with_case = Person(PERSON)
    with_case.erase(reason=ErasureReason.PERSON_REQUEST, on=D0, case_key="case-1")
    assert with_case.case_key == "case-1"
    without = Person(PERSON)
    without.erase(reason=ErasureReason.PERSON_REQUEST, on=D0)
    assert without.case_key == PERSON


INTAKE_EVENTS = [
    cls
    for cls in vars(contracts).values()
    if isinstance(cls, type) and issubclass(cls, DomainEvent) and "event_type" in cls.__dict__
]


def _is_plain_text(annotation: typing.Any) -> bool:
    """True when a field can hold an arbitrary string (not a code list, not a sealed value)."""
    if annotation is str:
        return True
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return False
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, tuple, typing.Annotated):
        return any(_is_plain_text(a) for a in args if a is not Ellipsis)
    return False


# Strings that are codes by their pattern, reviewed one by one: four digits of a postcode name a place, never a
# person; the catalogue's version names the checklist. (The municipality a tipster typed is free text: it stays
# in the signals service.)
CODES_BY_PATTERN = {("LeadOpened", "postcode"), ("LeadOpened", "catalogue_version")}


@pytest.mark.parametrize("event_cls", INTAKE_EVENTS, ids=lambda c: c.event_type)
def test_no_intake_event_has_a_free_text_field_other_than_ids_and_codes(event_cls: type[DomainEvent]) -> None:
    assert _is_plain_text(ReferralSubmitted.model_fields["referrer_file_number"].annotation)  # the check bites
    assert not _is_plain_text(ReferralSubmitted.model_fields["circumstances"].annotation)
    for name, info in event_cls.model_fields.items():
        if _is_plain_text(info.annotation) or any(_is_plain_text(m) for m in info.metadata):
            if (event_cls.event_type, name) in CODES_BY_PATTERN:
                continue
            assert name.endswith(("_id", "_ids", "_file_number")), f"{event_cls.event_type}.{name} is free text"


def test_every_intake_event_is_registered_for_decoding() -> None:
    assert len(INTAKE_EVENTS) == 19
    for cls in INTAKE_EVENTS:
        assert EVENT_TYPES.cls_for(cls.event_type) is cls
