"""Intake's date rules: the table in docs/plausible-dates.md is the one in the code, and each rule refuses what
it says with a 422 naming the field and the rule."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from harbour.plausibility import Implausible, check, render_markdown
from services.intake.dates import RULES, history_of

DOC = Path(__file__).resolve().parents[2] / "docs" / "plausible-dates.md"
TODAY = date(2026, 1, 5)


def test_the_intake_section_of_the_plausible_dates_page_is_the_table_in_the_code() -> None:
    page = DOC.read_text()
    section = page.split("### intake\n", 1)[1].split("\n### ", 1)[0]
    table = render_markdown("intake", RULES).split("### intake\n", 1)[1]
    assert section.startswith(table), "regenerate the intake section with harbour.plausibility.render_markdown"


def test_every_rule_has_a_unique_name_per_command_and_a_reason() -> None:
    assert len({(r.command, r.rule) for r in RULES}) == len(RULES)
    assert all(r.why for r in RULES)


@pytest.mark.parametrize(("command", "values", "history", "rule"), [
    ("referral.interview", {"held_on": date(2026, 1, 6)}, history_of(submitted_on=TODAY), "interview-not-in-future"),
    ("referral.interview", {"held_on": date(2026, 1, 4)}, history_of(submitted_on=TODAY),
     "interview-not-before-referral"),
    ("case.minority", {"on": date(2026, 1, 6)}, history_of(opened_on=TODAY), "minority-established-not-in-future"),
    ("case.minority", {"on": date(2001, 1, 1)}, history_of(opened_on=TODAY), "minority-established-not-before-case"),
    ("case.minority", {"on": TODAY}, history_of(), "minority-established-not-before-case"),  # no case: required
    ("case.minority.disproved", {"on": date(2026, 1, 2)},
     history_of(opened_on=date(2026, 1, 1), minority_established_on=date(2026, 1, 3)),
     "minority-disproved-not-before-established"),
    ("referral.identity", {"date_of_birth": date(2027, 1, 1)}, {}, "birth-not-in-future"),
])  # fmt: skip
def test_an_implausible_date_is_refused_with_its_field_and_rule(command, values, history, rule) -> None:
    with pytest.raises(Implausible) as refused:
        check(RULES, command, values, history, today=TODAY)
    assert refused.value.field == next(iter(values)) and refused.value.extra == {"rule": rule}


def test_a_date_on_the_bounds_is_accepted() -> None:
    check(RULES, "case.minority.disproved", {"on": TODAY},
          history_of(opened_on=TODAY, minority_established_on=TODAY), today=TODAY)  # fmt: skip
    check(RULES, "referral.interview", {"held_on": TODAY}, history_of(submitted_on=TODAY), today=TODAY)
