"""No lapse without a milestone, gaps on the file, stay on any day, and minority as a case fact (pure rules)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from schemas.intake import MinorFlagReason, MinorKind
from schemas.legal import (
    DocumentExpired,
    MinorityEffect,
    MinorityRecorded,
    OpinionOutcome,
    OpinionStep,
    ReflectionPeriodExtended,
    StatementKind,
    StayGapRecorded,
    StayLapsed,
)
from schemas.legal import ResidenceDocument as Doc
from services.legal.proceedings import CriminalProceedings
from services.legal.residence import ResidenceProcedure
from services.legal.rules import (
    StayPeriod,
    days_end,
    extended_reflection_end,
    months_end,
    stay_gap,
    stay_history,
    stay_on,
)

CASE = "case-0042"
BASIS = MinorFlagReason.AGE_ASSESSMENT


def opened(*, minor: bool = False, eu_citizen: bool = False) -> ResidenceProcedure:
    residence = ResidenceProcedure(CASE)
    residence.open(on=date(2026, 1, 5), unaccompanied_minor=minor, eu_citizen=eu_citizen, on_request=eu_citizen)
    return residence


def with_annex(start: date = date(2026, 1, 6), **kwargs: bool) -> ResidenceProcedure:
    residence = opened(**kwargs)
    residence.request(Doc.ANNEX_15, on=date(2026, 1, 5))
    residence.issue(on=start)
    return residence


def proceedings_with_statement() -> CriminalProceedings:
    proceedings = CriminalProceedings(CASE)
    proceedings.make_statement(on=date(2026, 1, 20), kind=StatementKind.STATEMENT, unit="police-zone-antwerp",
                               report_number="AN.55.L1.012345/2026")  # fmt: skip
    proceedings.assign_file(office="prosecution-antwerp", file_number="AN55.98.1234/26", on=date(2026, 1, 20))
    return proceedings


def of_type(residence: ResidenceProcedure, cls: type) -> list:
    return [e for e in residence.pending() if isinstance(e, cls)]


# ---- the pure rules -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous_ends_on", "starts_on", "gap"),
    [
        (date(2026, 4, 22), date(2026, 4, 23), None),  # the day after: continuous
        (date(2026, 4, 22), date(2026, 4, 10), None),  # decided before the end (replaced early)
        (date(2026, 4, 22), date(2026, 4, 27), (date(2026, 4, 23), date(2026, 4, 26))),  # four days without
        (date(2026, 4, 22), date(2026, 4, 24), (date(2026, 4, 23), date(2026, 4, 23))),  # one day without
        (date(2026, 2, 28), date(2026, 3, 2), (date(2026, 3, 1), date(2026, 3, 1))),  # across a month end
        (None, date(2026, 4, 27), None),  # nothing before: no gap
    ],
)
def test_the_gap_between_two_documents_is_the_days_neither_covered(previous_ends_on, starts_on, gap) -> None:
    assert stay_gap(previous_ends_on, starts_on) == gap


@pytest.mark.parametrize(
    ("starts_on", "ends_on", "extended"),
    [
        (date(2026, 1, 6), days_end(date(2026, 1, 6), 45), date(2026, 4, 5)),  # three months from its own start
        (date(2025, 11, 30), days_end(date(2025, 11, 30), 45), date(2026, 2, 28)),  # no 30 Feb: its month end
        (date(2027, 11, 30), days_end(date(2027, 11, 30), 45), date(2028, 2, 29)),  # leap year
        (date(2026, 1, 31), days_end(date(2026, 1, 31), 45), date(2026, 4, 30)),  # no 31 Apr
        (date(2026, 1, 6), date(2026, 4, 5), None),  # already three months: nothing to extend
    ],
)
def test_an_extended_reflection_lasts_three_months_from_its_start_even_at_month_ends(
    starts_on, ends_on, extended
) -> None:
    assert extended_reflection_end(starts_on, ends_on) == extended
    if extended is not None:
        assert extended == months_end(starts_on, 3)


def history() -> list[StayPeriod]:
    """Annex 15 replaced early by an attestation, renewed continuously, then an A-card four days late."""
    return stay_history([
        StayPeriod(Doc.ANNEX_15, date(2026, 1, 6), date(2026, 1, 6), date(2026, 2, 19)),
        StayPeriod(Doc.ATTESTATION_OF_IMMATRICULATION, date(2026, 1, 23), date(2026, 1, 23), date(2026, 4, 22)),
        StayPeriod(Doc.ATTESTATION_OF_IMMATRICULATION, date(2026, 4, 10), date(2026, 4, 23), date(2026, 7, 22), 1),
        StayPeriod(Doc.A_CARD, date(2026, 7, 27), date(2026, 7, 27), date(2027, 1, 26)),
    ])  # fmt: skip


def test_a_period_replaced_early_covers_only_until_the_eve_of_its_replacement() -> None:
    periods = history()
    assert [p.until for p in periods] == [date(2026, 1, 22), date(2026, 4, 22), date(2026, 7, 22), date(2027, 1, 26)]


@pytest.mark.parametrize(
    ("day", "valid", "basis", "document", "gap"),
    [
        (date(2026, 1, 5), False, "before-first-document", None, None),  # before the Annex 15
        (date(2026, 1, 6), True, "document", Doc.ANNEX_15, None),  # its first day
        (date(2026, 1, 23), True, "document", Doc.ATTESTATION_OF_IMMATRICULATION, None),  # replaced that day
        (date(2026, 2, 10), True, "document", Doc.ATTESTATION_OF_IMMATRICULATION, None),  # Annex not in force
        (date(2026, 4, 23), True, "document", Doc.ATTESTATION_OF_IMMATRICULATION, None),  # renewal, no gap
        (date(2026, 7, 22), True, "document", Doc.ATTESTATION_OF_IMMATRICULATION, None),  # last day
        (date(2026, 7, 23), False, "gap", None, (date(2026, 7, 23), date(2026, 7, 26))),  # the late A-card's gap
        (date(2026, 7, 26), False, "gap", None, (date(2026, 7, 23), date(2026, 7, 26))),
        (date(2026, 7, 27), True, "document", Doc.A_CARD, None),
        (date(2027, 1, 27), False, "gap", None, (date(2027, 1, 27), None)),  # lapsed, no successor yet
    ],
)
def test_the_stay_on_any_day_is_read_from_the_whole_history(day, valid, basis, document, gap) -> None:
    answer = stay_on(history(), day)
    assert (answer.valid, answer.basis) == (valid, basis)
    assert (answer.period.document if answer.period else None) == document
    assert ((answer.gap_from, answer.gap_to) if basis == "gap" else None) == gap


def test_an_eu_citizens_stay_is_valid_on_any_day_whatever_the_documents_say() -> None:
    assert stay_on([], date(2026, 1, 1), eu_citizen=True).valid is True
    assert stay_on(history(), date(2026, 7, 24), eu_citizen=True).basis == "eu-free-movement"


# ---- lapses and gaps in the aggregate -----------------------------------------------------------------------


@pytest.mark.parametrize("pending", [False, True])
def test_an_annex_15_that_lapses_records_its_expiry_and_the_lapse_of_stay(pending: bool) -> None:
    residence = with_annex()
    ends = days_end(date(2026, 1, 6), 45)
    if pending:
        residence.request(Doc.ATTESTATION_OF_IMMATRICULATION, on=date(2026, 2, 1),
                          facts=proceedings_with_statement().facts())  # fmt: skip
    assert residence.expire(document=Doc.ANNEX_15, ends_on=ends, on=ends + timedelta(days=1))
    assert of_type(residence, StayLapsed) == [StayLapsed(case_id=CASE, document=Doc.ANNEX_15, ends_on=ends,
                                                         lapsed_from=ends + timedelta(days=1),
                                                         request_pending=pending)]  # fmt: skip
    assert len(of_type(residence, DocumentExpired)) == 1
    assert not residence.expire(document=Doc.ANNEX_15, ends_on=ends, on=ends + timedelta(days=2))  # once
    assert len(of_type(residence, StayLapsed)) == 1
    assert residence.stay_on(ends + timedelta(days=1)).valid is False


def test_an_eu_citizens_document_expires_without_a_lapse_of_stay() -> None:
    residence = with_annex(eu_citizen=True)
    ends = days_end(date(2026, 1, 6), 45)
    assert residence.expire(document=Doc.ANNEX_15, ends_on=ends, on=ends + timedelta(days=1))
    assert len(of_type(residence, DocumentExpired)) == 1 and of_type(residence, StayLapsed) == []


def a_card_case() -> tuple[ResidenceProcedure, CriminalProceedings, date]:
    residence, proceedings = with_annex(), proceedings_with_statement()
    residence.request(Doc.ATTESTATION_OF_IMMATRICULATION, on=date(2026, 1, 21), facts=proceedings.facts())
    residence.issue(on=date(2026, 1, 23))
    proceedings.give_opinion(step=OpinionStep.A_CARD_INITIAL, outcome=OpinionOutcome.VICTIM, on=date(2026, 4, 1))
    residence.request(Doc.A_CARD, on=date(2026, 4, 2), facts=proceedings.facts())
    residence.issue(on=date(2026, 4, 10))
    return residence, proceedings, months_end(date(2026, 4, 10), 6)


def test_an_a_card_renewed_after_its_expiry_records_the_gap_from_the_day_after_to_the_eve_of_the_decision() -> None:
    residence, proceedings, card_end = a_card_case()
    residence.request_renewal(on=card_end - timedelta(days=10), facts=_confirmed(proceedings, card_end))
    residence.expire(document=Doc.A_CARD, ends_on=card_end, on=card_end + timedelta(days=1))
    decided = card_end + timedelta(days=5)  # the magistrate's confirmation came late
    residence.issue(on=decided)
    assert of_type(residence, StayGapRecorded) == [StayGapRecorded(
        case_id=CASE, previous_document=Doc.A_CARD, document=Doc.A_CARD, gap_from=card_end + timedelta(days=1),
        gap_to=decided - timedelta(days=1), decided_on=decided)]  # fmt: skip
    assert [e.request_pending for e in of_type(residence, StayLapsed)] == [True]
    for day, valid in [(card_end, True), (card_end + timedelta(days=1), False), (decided - timedelta(days=1), False),
                       (decided, True)]:  # fmt: skip
        assert residence.stay_on(day).valid is valid, day
    gap = residence.stay_on(card_end + timedelta(days=2))
    assert (gap.gap_from, gap.gap_to) == (card_end + timedelta(days=1), decided - timedelta(days=1))


def test_a_renewal_decided_in_time_leaves_no_gap() -> None:
    residence, proceedings, card_end = a_card_case()
    residence.request_renewal(on=card_end - timedelta(days=10), facts=_confirmed(proceedings, card_end))
    residence.issue(on=card_end - timedelta(days=2))
    assert of_type(residence, StayGapRecorded) == []
    assert all(residence.stay_on(card_end + timedelta(days=n)).valid for n in range(0, 3))


def test_a_next_document_issued_after_the_annex_15_lapsed_records_the_gap_too() -> None:
    residence = with_annex()
    ends = days_end(date(2026, 1, 6), 45)
    residence.request(Doc.ATTESTATION_OF_IMMATRICULATION, on=ends, facts=proceedings_with_statement().facts())
    residence.issue(on=ends + timedelta(days=3))
    [gap] = of_type(residence, StayGapRecorded)
    assert (gap.previous_document, gap.document, gap.gap_from, gap.gap_to) == (
        Doc.ANNEX_15,
        Doc.ATTESTATION_OF_IMMATRICULATION,
        ends + timedelta(days=1),
        ends + timedelta(days=2),
    )


def _confirmed(proceedings: CriminalProceedings, card_end: date):  # the magistrate confirms before the renewal
    proceedings.give_opinion(step=OpinionStep.A_CARD_RENEWAL, outcome=OpinionOutcome.VICTIM,
                             on=card_end - timedelta(days=12))  # fmt: skip
    return proceedings.facts()


# ---- minority as a case fact --------------------------------------------------------------------------------


def test_an_unaccompanied_minor_established_while_the_annex_15_runs_extends_it_to_three_months_from_its_start() -> None:
    residence = with_annex(date(2026, 1, 31))
    ends = days_end(date(2026, 1, 31), 45)
    assert residence.note_minority(minor=MinorKind.UNACCOMPANIED, basis=BASIS, on=date(2026, 2, 20))
    [extended] = of_type(residence, ReflectionPeriodExtended)
    assert extended == ReflectionPeriodExtended(case_id=CASE, starts_on=date(2026, 1, 31), previous_ends_on=ends,
                                                ends_on=date(2026, 4, 30), extended_on=date(2026, 2, 20))  # fmt: skip
    assert of_type(residence, MinorityRecorded)[0].effect is MinorityEffect.REFLECTION_EXTENDED
    assert residence.current is not None and residence.current.ends_on == date(2026, 4, 30)
    assert residence.deadlines()[-1].due_on == date(2026, 5, 1)  # the expiry moved with it
    assert residence.stay_on(date(2026, 4, 30)).valid and not residence.stay_on(date(2026, 5, 1)).valid


def test_the_same_minority_fact_twice_is_recorded_once() -> None:
    residence = with_annex()
    assert residence.note_minority(minor=MinorKind.UNACCOMPANIED, basis=BASIS, on=date(2026, 2, 1))
    assert not residence.note_minority(minor=MinorKind.UNACCOMPANIED, basis=BASIS, on=date(2026, 2, 1))
    assert len(of_type(residence, ReflectionPeriodExtended)) == 1 and len(of_type(residence, MinorityRecorded)) == 1


def test_a_minor_established_before_the_annex_15_gets_three_months_at_its_first_issue() -> None:
    residence = opened()
    residence.note_minority(minor=MinorKind.UNACCOMPANIED, basis=BASIS, on=date(2026, 1, 5))
    assert of_type(residence, MinorityRecorded)[0].effect is MinorityEffect.FIRST_ANNEX_15
    residence.request(Doc.ANNEX_15, on=date(2026, 1, 5))
    residence.issue(on=date(2026, 1, 6))
    assert residence.current is not None and residence.current.ends_on == months_end(date(2026, 1, 6), 3)


@pytest.mark.parametrize("kind", [MinorKind.ACCOMPANIED, None])
def test_an_accompanied_minor_or_a_disproved_one_gets_the_45_days_at_a_first_issue(kind) -> None:
    residence = opened(minor=True)
    residence.note_minority(minor=kind, basis=BASIS, on=date(2026, 1, 5))
    residence.request(Doc.ANNEX_15, on=date(2026, 1, 5))
    residence.issue(on=date(2026, 1, 6))
    assert residence.current is not None and residence.current.ends_on == days_end(date(2026, 1, 6), 45)


def test_disproving_minority_never_shortens_an_annex_15_already_issued() -> None:
    residence = with_annex(minor=True)
    three_months = months_end(date(2026, 1, 6), 3)
    assert residence.note_minority(minor=None, basis=BASIS, on=date(2026, 2, 1))
    assert of_type(residence, MinorityRecorded)[0].effect is MinorityEffect.NONE
    assert of_type(residence, ReflectionPeriodExtended) == []
    assert residence.current is not None and residence.current.ends_on == three_months
    assert residence.unaccompanied_minor is False and residence.minor is None


@pytest.mark.parametrize("kind", [MinorKind.ACCOMPANIED, MinorKind.UNACCOMPANIED])
def test_a_minority_established_after_the_reflection_ended_changes_no_document(kind) -> None:
    residence = with_annex()
    residence.request(Doc.ATTESTATION_OF_IMMATRICULATION, on=date(2026, 1, 21),
                      facts=proceedings_with_statement().facts())  # fmt: skip
    residence.issue(on=date(2026, 1, 23))
    before = residence.current
    assert residence.note_minority(minor=kind, basis=BASIS, on=date(2026, 3, 1))
    assert of_type(residence, MinorityRecorded)[-1].effect is MinorityEffect.NONE
    assert of_type(residence, ReflectionPeriodExtended) == [] and residence.current == before


def test_a_minority_established_after_the_annex_15_ran_out_does_not_revive_it() -> None:
    residence = with_annex()
    ends = days_end(date(2026, 1, 6), 45)
    residence.note_minority(minor=MinorKind.UNACCOMPANIED, basis=BASIS, on=ends + timedelta(days=1))
    assert of_type(residence, ReflectionPeriodExtended) == []
