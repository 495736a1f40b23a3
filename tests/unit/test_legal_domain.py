"""Scenarios of the residence procedure and the criminal proceedings, as DOMAIN §2 describes them."""

from __future__ import annotations

from datetime import date

import pytest

from harbour.errors import RuleViolation
from schemas.legal import (
    CourtInstance,
    DefendantVerdict,
    DocumentExpired,
    DocumentExpiryReminderDue,
    DocumentIssued,
    DocumentRefused,
    DocumentRenewed,
    DocumentRequested,
    EndingReason,
    HearingStayWarning,
    InvestigationStage,
    OpinionOutcome,
    OpinionStep,
    ProceedingsConcluded,
    ProceedingsOutcome,
    ReflectionPeriodStarted,
    RefusalReason,
    ResidenceStatusEnded,
    StatementKind,
    VerdictOutcome,
    VoluntaryReturnChosen,
)
from schemas.legal import ResidenceDocument as Doc
from services.legal.domain import (
    CriminalProceedings,
    ResidenceProcedure,
    ResidenceRules,
    ending_for,
    opens_on_case_opened,
)

CASE = "case-0001"
COURT = "criminal-court-antwerp"


def opened(*, minor: bool = False, rules: ResidenceRules | None = None) -> ResidenceProcedure:
    residence = ResidenceProcedure(CASE, rules=rules) if rules else ResidenceProcedure(CASE)
    residence.open(on=date(2026, 1, 5), unaccompanied_minor=minor)
    return residence


def with_statement(on: date = date(2026, 1, 20)) -> CriminalProceedings:
    proceedings = CriminalProceedings(CASE)
    proceedings.make_statement(
        on=on, kind=StatementKind.STATEMENT, unit="police-zone-antwerp", report_number="AN.55.L1.012345/2026"
    )
    proceedings.assign_file(office="prosecution-antwerp", file_number="AN55.98.1234/26", on=on)
    return proceedings


def with_attestation() -> tuple[ResidenceProcedure, CriminalProceedings]:
    residence, proceedings = opened(), with_statement()
    residence.request(Doc.ANNEX_15, on=date(2026, 1, 5))
    residence.issue(on=date(2026, 1, 6))
    residence.request(Doc.ATTESTATION_OF_IMMATRICULATION, on=date(2026, 1, 21), facts=proceedings.facts())
    residence.issue(on=date(2026, 1, 23))
    return residence, proceedings


def with_a_card() -> tuple[ResidenceProcedure, CriminalProceedings]:
    residence, proceedings = with_attestation()
    proceedings.give_opinion(step=OpinionStep.A_CARD_INITIAL, outcome=OpinionOutcome.VICTIM, on=date(2026, 4, 1))
    residence.request(Doc.A_CARD, on=date(2026, 4, 2), facts=proceedings.facts())
    residence.issue(on=date(2026, 4, 10))
    return residence, proceedings


def last(residence: ResidenceProcedure) -> object:
    return residence.pending()[-1]


def test_an_adults_full_path_leads_to_an_unlimited_b_card() -> None:
    residence, proceedings = with_a_card()
    assert residence.current is not None and residence.current.ends_on == date(2026, 10, 9)

    proceedings.give_opinion(step=OpinionStep.A_CARD_RENEWAL, outcome=OpinionOutcome.VICTIM, on=date(2026, 9, 20))
    residence.request_renewal(on=date(2026, 9, 22), facts=proceedings.facts())
    residence.issue(on=date(2026, 10, 1))
    assert last(residence) == DocumentRenewed(
        case_id=CASE,
        document=Doc.A_CARD,
        decided_on=date(2026, 10, 1),
        starts_on=date(2026, 10, 10),
        ends_on=date(2027, 4, 9),
        renewal_number=1,
    )

    proceedings.reach_stage(stage=InvestigationStage.TRIAL, on=date(2026, 11, 2))
    proceedings.join_as_civil_party(on=date(2026, 11, 2))
    proceedings.deliver_verdict(
        court=COURT,
        instance=CourtInstance.FIRST_INSTANCE,
        defendants=[
            DefendantVerdict(defendant="defendant-1", outcome=VerdictOutcome.CONVICTED_OF_TRAFFICKING),
            DefendantVerdict(defendant="defendant-2", outcome=VerdictOutcome.ACQUITTED),
        ],
        on=date(2027, 1, 4),
    )
    proceedings.award_compensation(court=COURT, amount_cents=1_500_000, on=date(2027, 1, 4))
    residence.request(Doc.B_CARD, on=date(2027, 1, 6), facts=proceedings.facts())
    residence.issue(on=date(2027, 2, 1))

    issued, ended = residence.pending()[-2:]
    assert issued == DocumentIssued(
        case_id=CASE, document=Doc.B_CARD, decided_on=date(2027, 2, 1), starts_on=date(2027, 2, 1), ends_on=None
    )
    assert ended == ResidenceStatusEnded(
        case_id=CASE, ended_on=date(2027, 2, 1), reason=EndingReason.STATUS_GRANTED_UNLIMITED
    )
    assert residence.deadlines() == []
    assert residence.stay_valid_on(date(2035, 1, 1))
    assert proceedings.compensation_cents == 1_500_000


def test_the_a_card_request_records_the_magistrates_opinion_it_relies_on() -> None:
    residence, _ = with_a_card()
    requested = next(e for e in residence.pending() if isinstance(e, DocumentRequested) and e.document is Doc.A_CARD)
    assert (requested.magistrate_opinion, requested.magistrate_opinion_on) == (OpinionOutcome.VICTIM, date(2026, 4, 1))


def test_a_minors_reflection_period_lasts_three_months() -> None:
    residence = opened(minor=True)
    residence.request(Doc.ANNEX_15, on=date(2026, 1, 5))
    residence.issue(on=date(2026, 1, 31))
    assert last(residence) == ReflectionPeriodStarted(
        case_id=CASE,
        decided_on=date(2026, 1, 31),
        starts_on=date(2026, 1, 31),
        ends_on=date(2026, 4, 30),
        unaccompanied_minor=True,
    )


def test_an_adults_reflection_period_lasts_45_days() -> None:
    residence = opened()
    residence.request(Doc.ANNEX_15, on=date(2026, 1, 5))
    residence.issue(on=date(2026, 1, 6))
    assert residence.current is not None and residence.current.ends_on == date(2026, 2, 19)


def test_an_attestation_is_renewed_once_and_a_second_renewal_is_refused() -> None:
    residence, proceedings = with_attestation()
    residence.request_renewal(on=date(2026, 4, 10), facts=proceedings.facts())
    residence.issue(on=date(2026, 4, 15))
    assert last(residence) == DocumentRenewed(
        case_id=CASE,
        document=Doc.ATTESTATION_OF_IMMATRICULATION,
        decided_on=date(2026, 4, 15),
        starts_on=date(2026, 4, 23),
        ends_on=date(2026, 7, 22),
        renewal_number=1,
    )
    with pytest.raises(RuleViolation) as refused:
        residence.request_renewal(on=date(2026, 7, 10), facts=proceedings.facts())
    assert refused.value.field == "renewals"


def test_an_attestation_is_not_renewed_once_the_prosecutor_has_decided() -> None:
    residence, proceedings = with_attestation()
    proceedings.give_opinion(step=OpinionStep.A_CARD_INITIAL, outcome=OpinionOutcome.VICTIM, on=date(2026, 4, 1))
    with pytest.raises(RuleViolation) as refused:
        residence.request_renewal(on=date(2026, 4, 10), facts=proceedings.facts())
    assert refused.value.field == "prosecutor_decision"


def test_an_attestation_without_a_statement_or_complaint_is_refused() -> None:
    residence = opened()
    with pytest.raises(RuleViolation) as refused:
        residence.request(Doc.ATTESTATION_OF_IMMATRICULATION, on=date(2026, 1, 10))
    assert refused.value.field == "statement"


def test_an_a_card_without_the_magistrates_favourable_opinion_is_refused() -> None:
    residence, proceedings = with_attestation()
    with pytest.raises(RuleViolation) as without:
        residence.request(Doc.A_CARD, on=date(2026, 3, 1), facts=proceedings.facts())
    proceedings.give_opinion(step=OpinionStep.A_CARD_INITIAL, outcome=OpinionOutcome.NOT_A_VICTIM, on=date(2026, 3, 5))
    with pytest.raises(RuleViolation) as unfavourable:
        residence.request(Doc.A_CARD, on=date(2026, 3, 6), facts=proceedings.facts())
    assert without.value.field == unfavourable.value.field == "magistrate_opinion"


def test_an_a_card_renewal_without_the_magistrates_confirmation_is_refused() -> None:
    residence, proceedings = with_a_card()
    with pytest.raises(RuleViolation) as refused:
        residence.request_renewal(on=date(2026, 9, 22), facts=proceedings.facts())
    assert refused.value.field == "magistrate_confirmation"


def test_a_confirmation_used_for_one_renewal_does_not_serve_the_next() -> None:
    residence, proceedings = with_a_card()
    proceedings.give_opinion(step=OpinionStep.A_CARD_RENEWAL, outcome=OpinionOutcome.VICTIM, on=date(2026, 9, 20))
    residence.request_renewal(on=date(2026, 9, 22), facts=proceedings.facts())
    residence.issue(on=date(2026, 10, 1))
    with pytest.raises(RuleViolation) as refused:
        residence.request_renewal(on=date(2027, 3, 20), facts=proceedings.facts())
    assert refused.value.field == "magistrate_confirmation"


def test_a_b_card_without_a_trafficking_conviction_is_refused() -> None:
    residence, proceedings = with_a_card()
    proceedings.file_requisitions(asks_trafficking_conviction=True, on=date(2026, 11, 5))
    with pytest.raises(RuleViolation) as refused:
        residence.request(Doc.B_CARD, on=date(2026, 11, 6), facts=proceedings.facts())
    assert refused.value.field == "verdict"


def test_the_prosecutors_requisitions_open_the_b_card_when_the_setting_is_on() -> None:
    residence = opened(rules=ResidenceRules(requisitions_suffice_for_b_card=True))
    proceedings = with_statement()
    proceedings.file_requisitions(asks_trafficking_conviction=True, on=date(2026, 11, 5))
    residence.request(Doc.B_CARD, on=date(2026, 11, 6), facts=proceedings.facts())
    residence.issue(on=date(2026, 11, 20))
    assert residence.issued == {Doc.B_CARD}


def test_a_status_ended_by_renewed_contact_with_the_exploiters_allows_no_further_document() -> None:
    residence, proceedings = with_attestation()
    residence.request_renewal(on=date(2026, 4, 10), facts=proceedings.facts())
    residence.end(reason=EndingReason.RENEWED_CONTACT_WITH_EXPLOITERS, on=date(2026, 4, 12))
    assert last(residence) == ResidenceStatusEnded(
        case_id=CASE, ended_on=date(2026, 4, 12), reason=EndingReason.RENEWED_CONTACT_WITH_EXPLOITERS
    )
    with pytest.raises(RuleViolation) as issuing:
        residence.issue(on=date(2026, 4, 15))
    assert issuing.value.field == "status"
    residence.refuse(reason=RefusalReason.RENEWED_CONTACT_WITH_EXPLOITERS, on=date(2026, 4, 15))
    assert isinstance(last(residence), DocumentRefused)
    assert residence.deadlines() == []


def test_a_dismissal_ends_the_status_with_proceedings_closed() -> None:
    residence, proceedings = with_attestation()
    proceedings.conclude(outcome=ProceedingsOutcome.DISMISSED, on=date(2026, 3, 15))
    reason = ending_for(proceedings.pending()[-1])
    assert reason is EndingReason.PROCEEDINGS_CLOSED
    residence.end(reason=reason, on=date(2026, 3, 16))
    assert residence.ended is not None and residence.ended.reason is EndingReason.PROCEEDINGS_CLOSED


def test_a_final_judgment_is_not_read_as_a_dismissal() -> None:
    assert (
        ending_for(
            ProceedingsConcluded(case_id=CASE, concluded_on=date(2027, 6, 1), outcome=ProceedingsOutcome.FINAL_JUDGMENT)
        )
        is None
    )


def test_the_unlimited_status_cannot_be_recorded_as_an_ending_without_a_b_card() -> None:
    residence = opened()
    with pytest.raises(RuleViolation):
        residence.end(reason=EndingReason.STATUS_GRANTED_UNLIMITED, on=date(2026, 2, 1))


def test_during_the_reflection_period_the_person_may_choose_a_voluntary_return() -> None:
    residence = opened()
    residence.request(Doc.ANNEX_15, on=date(2026, 1, 5))
    residence.issue(on=date(2026, 1, 6))
    residence.choose_voluntary_return(on=date(2026, 2, 1))
    assert residence.pending()[-2:] == [
        VoluntaryReturnChosen(case_id=CASE, chosen_on=date(2026, 2, 1)),
        ResidenceStatusEnded(case_id=CASE, ended_on=date(2026, 2, 1), reason=EndingReason.VOLUNTARY_RETURN),
    ]


def test_a_voluntary_return_is_not_chosen_after_the_reflection_period() -> None:
    residence, _ = with_attestation()
    with pytest.raises(RuleViolation):
        residence.choose_voluntary_return(on=date(2026, 2, 1))


def test_an_eu_citizens_procedure_is_opened_only_at_their_request_and_runs_without_documents() -> None:
    assert not opens_on_case_opened(eu_citizen=True) and opens_on_case_opened(eu_citizen=False)
    with pytest.raises(RuleViolation):
        ResidenceProcedure(CASE).open(on=date(2026, 1, 5), eu_citizen=True)

    residence = ResidenceProcedure(CASE)
    residence.open(on=date(2026, 1, 5), eu_citizen=True, on_request=True)
    proceedings = with_statement()
    proceedings.schedule_hearing(
        court=COURT, hearing_on=date(2026, 9, 1), attendance_required=True, on=date(2026, 5, 1)
    )
    assert residence.current is None and residence.deadlines() == []
    assert residence.stay_valid_on(date(2026, 9, 1))
    assert residence.warn_for_hearing(hearing_on=date(2026, 9, 1), court=COURT, on=date(2026, 5, 1)) is False
    residence.end(reason=EndingReason.STOPPED_COOPERATING, on=date(2026, 10, 1))
    assert residence.ended is not None


def test_a_hearing_warning_is_recorded_once_when_the_a_card_ends_before_the_hearing() -> None:
    residence, proceedings = with_a_card()  # valid until 9 Oct 2026
    proceedings.schedule_hearing(
        court=COURT, hearing_on=date(2026, 11, 3), attendance_required=True, on=date(2026, 6, 1)
    )
    assert residence.warn_for_hearing(hearing_on=date(2026, 11, 3), court=COURT, on=date(2026, 10, 20))
    assert last(residence) == HearingStayWarning(
        case_id=CASE,
        hearing_on=date(2026, 11, 3),
        court=COURT,
        document=Doc.A_CARD,
        ends_on=date(2026, 10, 9),
        warned_on=date(2026, 10, 20),
    )
    assert not residence.warn_for_hearing(hearing_on=date(2026, 11, 3), court=COURT, on=date(2026, 10, 21))
    assert not residence.warn_for_hearing(hearing_on=date(2026, 10, 9), court=COURT, on=date(2026, 10, 1))


def test_the_deadlines_follow_the_document_in_force_and_fire_once() -> None:
    residence, _ = with_attestation()  # issued 23 Jan, valid until 22 Apr 2026
    assert [(d.kind.value, d.due_on) for d in residence.deadlines()] == [
        ("reminder", date(2026, 4, 8)),
        ("reminder", date(2026, 4, 19)),
        ("expiry", date(2026, 4, 23)),
    ]
    doc, ends_on = Doc.ATTESTATION_OF_IMMATRICULATION, date(2026, 4, 22)
    with pytest.raises(RuleViolation):
        residence.remind_expiry(document=doc, ends_on=ends_on, days_before=14, on=date(2026, 4, 1))
    assert residence.remind_expiry(document=doc, ends_on=ends_on, days_before=14, on=date(2026, 4, 8))
    assert not residence.remind_expiry(document=doc, ends_on=ends_on, days_before=14, on=date(2026, 4, 8))
    assert last(residence) == DocumentExpiryReminderDue(
        case_id=CASE, document=doc, ends_on=ends_on, days_before=14, due_on=date(2026, 4, 8)
    )
    assert residence.expire(document=doc, ends_on=ends_on, on=date(2026, 4, 23))
    assert not residence.expire(document=doc, ends_on=ends_on, on=date(2026, 4, 24))
    # The document's expiry, then the person's lapse of stay (tests/unit/test_legal_lapses.py).
    assert residence.pending()[-2] == DocumentExpired(
        case_id=CASE, document=doc, ends_on=ends_on, expired_on=date(2026, 4, 23), request_pending=False
    )


def test_a_timer_for_a_document_since_renewed_records_nothing() -> None:
    residence, proceedings = with_attestation()
    residence.request_renewal(on=date(2026, 4, 1), facts=proceedings.facts())
    residence.issue(on=date(2026, 4, 5))
    stale = {"document": Doc.ATTESTATION_OF_IMMATRICULATION, "ends_on": date(2026, 4, 22)}
    assert not residence.remind_expiry(**stale, days_before=3, on=date(2026, 4, 19))
    assert not residence.expire(**stale, on=date(2026, 4, 23))
    assert residence.deadlines()[-1].due_on == date(2026, 7, 23)


def test_only_one_request_awaits_a_decision_at_a_time() -> None:
    residence = opened()
    residence.request(Doc.ANNEX_15, on=date(2026, 1, 5))
    with pytest.raises(RuleViolation) as refused:
        residence.request(Doc.ANNEX_15, on=date(2026, 1, 6))
    assert refused.value.field == "request"


def test_a_document_cannot_be_requested_after_a_later_step() -> None:
    residence, proceedings = with_attestation()
    with pytest.raises(RuleViolation):
        residence.request(Doc.ANNEX_15, on=date(2026, 2, 1))
    with pytest.raises(RuleViolation):
        residence.request(Doc.ATTESTATION_OF_IMMATRICULATION, on=date(2026, 2, 1), facts=proceedings.facts())


def test_a_refused_request_leaves_the_document_in_force() -> None:
    residence, proceedings = with_attestation()
    residence.request_renewal(on=date(2026, 4, 10), facts=proceedings.facts())
    residence.refuse(reason=RefusalReason.NOT_A_TRAFFICKING_FILE, on=date(2026, 4, 12))
    assert residence.current is not None and residence.current.ends_on == date(2026, 4, 22)
    assert residence.open_request is None
    with pytest.raises(RuleViolation):
        residence.issue(on=date(2026, 4, 13))


def test_proceedings_need_a_statement_and_accept_no_news_once_concluded() -> None:
    proceedings = CriminalProceedings(CASE)
    with pytest.raises(RuleViolation):
        proceedings.give_opinion(step=OpinionStep.A_CARD_INITIAL, outcome=OpinionOutcome.VICTIM, on=date(2026, 1, 5))
    proceedings = with_statement()
    with pytest.raises(RuleViolation):
        proceedings.give_opinion(step=OpinionStep.A_CARD_RENEWAL, outcome=OpinionOutcome.VICTIM, on=date(2026, 2, 1))
    with pytest.raises(RuleViolation):
        proceedings.award_compensation(court=COURT, amount_cents=100, on=date(2026, 2, 1))
    proceedings.conclude(outcome=ProceedingsOutcome.NO_GROUNDS_TO_PROSECUTE, on=date(2026, 3, 1))
    with pytest.raises(RuleViolation):
        proceedings.reach_stage(stage=InvestigationStage.TRIAL, on=date(2026, 3, 2))
    assert proceedings.facts().concluded_on == date(2026, 3, 1)
    assert proceedings.facts().prosecutor_decided


def test_a_statement_with_a_prosecutorial_file_is_recorded_by_reference_only() -> None:
    proceedings = with_statement()
    assert (proceedings.office, proceedings.file_number) == ("prosecution-antwerp", "AN55.98.1234/26")
    with pytest.raises(ValueError):  # office ids are a closed form, never free text
        proceedings.assign_file(office="Mr Prosecutor", file_number="X1", on=date(2026, 2, 1))
