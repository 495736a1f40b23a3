"""The pure residence rules: calendar arithmetic, validity, stay on a day, deadlines."""

from __future__ import annotations

from datetime import date

import pytest

from schemas.legal import ResidenceDocument as Doc
from services.legal.rules import (
    Deadline,
    DeadlineKind,
    DocumentValidity,
    add_months,
    deadlines,
    months_end,
    reflection_end,
    renewal_start,
    stay_valid_on,
    validity_end,
)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap year
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),  # across the year
        (date(2026, 5, 15), -5, date(2025, 12, 15)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
    ],
)
def test_adding_months_clamps_to_the_end_of_a_shorter_month(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


@pytest.mark.parametrize(
    ("start", "months", "last_valid_day"),
    [
        (date(2026, 1, 15), 1, date(2026, 2, 14)),  # to the eve of the same day number
        (date(2026, 1, 31), 1, date(2026, 2, 28)),  # no 31 Feb: the month's last day, not 2 or 3 March
        (date(2026, 1, 30), 1, date(2026, 2, 28)),
        (date(2026, 1, 28), 1, date(2026, 2, 27)),
        (date(2026, 3, 1), 1, date(2026, 3, 31)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2026, 12, 1), 3, date(2027, 2, 28)),
    ],
)
def test_a_period_of_months_ends_on_the_eve_of_the_same_day_or_at_the_month_end(
    start: date, months: int, last_valid_day: date
) -> None:
    assert months_end(start, months) == last_valid_day


def test_an_adults_reflection_period_counts_45_days_including_the_first() -> None:
    assert reflection_end(date(2026, 1, 5), unaccompanied_minor=False) == date(2026, 2, 18)


def test_an_unaccompanied_minors_reflection_period_lasts_3_months() -> None:
    assert reflection_end(date(2026, 1, 5), unaccompanied_minor=True) == date(2026, 4, 4)


def test_each_document_has_its_own_validity_and_the_b_card_has_none() -> None:
    start = date(2026, 2, 10)
    assert validity_end(Doc.ATTESTATION_OF_IMMATRICULATION, start) == date(2026, 5, 9)
    assert validity_end(Doc.A_CARD, start) == date(2026, 8, 9)
    assert validity_end(Doc.B_CARD, start) is None


def test_a_renewal_continues_without_a_gap_or_starts_on_a_late_decision() -> None:
    assert renewal_start(date(2026, 5, 9), date(2026, 5, 1)) == date(2026, 5, 10)
    assert renewal_start(date(2026, 5, 9), date(2026, 5, 20)) == date(2026, 5, 20)


A_CARD = DocumentValidity(Doc.A_CARD, date(2026, 3, 1), date(2026, 3, 1), date(2026, 8, 31))


def test_the_stay_is_valid_on_a_hearing_day_within_the_document() -> None:
    assert stay_valid_on(A_CARD, date(2026, 3, 1))
    assert stay_valid_on(A_CARD, date(2026, 8, 31))


def test_the_stay_is_not_valid_on_a_hearing_day_after_the_document_ends() -> None:
    assert not stay_valid_on(A_CARD, date(2026, 9, 1))
    assert not stay_valid_on(A_CARD, date(2026, 2, 28))
    assert not stay_valid_on(None, date(2026, 9, 1))


def test_an_unlimited_document_covers_any_later_hearing() -> None:
    b_card = DocumentValidity(Doc.B_CARD, date(2027, 1, 4), date(2027, 1, 4), None)
    assert stay_valid_on(b_card, date(2040, 1, 1))


def test_an_eu_citizens_stay_is_valid_without_any_document() -> None:
    assert stay_valid_on(None, date(2026, 9, 1), eu_citizen=True)


def test_a_document_implies_reminders_14_and_3_days_before_and_its_expiry() -> None:
    assert deadlines(A_CARD) == [
        Deadline(DeadlineKind.REMINDER, date(2026, 8, 17), Doc.A_CARD, date(2026, 8, 31), 14),
        Deadline(DeadlineKind.REMINDER, date(2026, 8, 28), Doc.A_CARD, date(2026, 8, 31), 3),
        Deadline(DeadlineKind.EXPIRY, date(2026, 9, 1), Doc.A_CARD, date(2026, 8, 31)),
    ]


def test_reminder_days_are_configurable_and_never_fall_before_the_document_starts() -> None:
    annex = DocumentValidity(Doc.ANNEX_15, date(2026, 1, 5), date(2026, 1, 5), date(2026, 2, 18))
    found = deadlines(annex, reminder_days=(3, 60, 7, 7))
    assert [(d.kind, d.days_before, d.due_on) for d in found] == [
        (DeadlineKind.REMINDER, 7, date(2026, 2, 11)),
        (DeadlineKind.REMINDER, 3, date(2026, 2, 15)),
        (DeadlineKind.EXPIRY, None, date(2026, 2, 19)),
    ]


def test_no_deadlines_without_a_document_or_for_the_unlimited_b_card() -> None:
    assert deadlines(None) == []
    assert deadlines(DocumentValidity(Doc.B_CARD, date(2027, 1, 4), date(2027, 1, 4), None)) == []
