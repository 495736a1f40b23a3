"""Housing's rule table of plausible dates (services/housing/dates.py): each rule refuses what it names, with a
422 naming the field and the rule, and the docs show the table as it is."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from harbour.clock import ManualClock
from harbour.plausibility import Implausible, render_markdown
from services.housing.dates import RULES, check

# 23:30 UTC on 31 March 2026 is 01:30 on 1 April in Brussels (summer time): "today" is 1 April there.
CLOCK = ManualClock(datetime(2026, 3, 31, 23, 30, tzinfo=UTC))
TODAY = date(2026, 4, 1)
HISTORY = {"housed_since": date(2026, 2, 10), "case_opened_on": date(2026, 2, 1), "requested_on": date(2026, 3, 1)}


def refused(command: str, on: date, history: dict[str, date | None] = HISTORY) -> tuple[str | None, str]:
    with pytest.raises(Implausible) as err:
        check(command, on, history, CLOCK)
    return err.value.field, str(err.value.extra["rule"])


@pytest.mark.parametrize("command", ["move", "exit"])
def test_a_move_or_exit_dated_1999_2035_or_before_the_persons_entry_is_refused_naming_the_rule(command: str) -> None:
    assert refused(command, date(1999, 6, 1)) == ("on", f"{command}-not-before-housed-since")
    assert refused(command, date(2035, 1, 1)) == ("on", f"{command}-not-in-the-future")
    assert refused(command, date(2026, 2, 9)) == ("on", f"{command}-not-before-housed-since")
    never_housed = {**HISTORY, "housed_since": None}
    assert refused(command, date(1999, 6, 1), never_housed) == ("on", f"{command}-not-before-case-opened")
    for fine in (date(2026, 2, 10), TODAY, None):
        check(command, fine, HISTORY, CLOCK)
    check(command, date(2026, 2, 1), never_housed, CLOCK)


def test_today_is_the_brussels_day_so_a_move_dated_on_it_after_midnight_there_is_not_in_the_future() -> None:
    check("move", TODAY, HISTORY, CLOCK)  # 1 April: UTC still says 31 March
    assert refused("move", date(2026, 4, 2)) == ("on", "move-not-in-the-future")


@pytest.mark.parametrize("command", ["add-bed", "bed-out-of-service", "bed-in-service"])
def test_a_bed_dated_after_today_is_refused(command: str) -> None:
    assert refused(command, date(2035, 1, 1), {}) == ("on", f"{command}-not-in-the-future")
    check(command, TODAY, {}, CLOCK)
    check(command, date(2025, 6, 1), {}, CLOCK)  # a bed's change recorded late is still a plausible one


@pytest.mark.parametrize("command", ["accept-cross-centre", "decline-cross-centre", "withdraw-request"])
def test_an_answer_to_a_request_is_neither_before_the_request_nor_in_the_future(command: str) -> None:
    assert refused(command, date(2026, 2, 28)) == ("on", f"{command}-not-before-request")
    assert refused(command, date(2026, 4, 2)) == ("on", f"{command}-not-in-the-future")
    check(command, date(2026, 3, 1), HISTORY, CLOCK)


def test_every_rule_has_a_unique_name_and_a_reason() -> None:
    names = [r.rule for r in RULES]
    assert len(names) == len(set(names)) == 18
    assert all(r.why and r.field == "on" for r in RULES)


def test_the_docs_show_housings_rule_table_as_the_code_has_it() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "plausible-dates.md").read_text()
    assert render_markdown("housing", RULES) in docs


@pytest.mark.parametrize("command", ["add-bed", "bed-out-of-service", "bed-in-service"])
def test_a_bed_change_backdated_beyond_a_year_is_refused(command: str) -> None:
    # A bed out of service dated 0001-01-01 was accepted (204).
    assert refused(command, date(1, 1, 1), {}) == ("on", f"{command}-not-a-year-late")
    assert refused(command, date(2025, 3, 31), {}) == ("on", f"{command}-not-a-year-late")
    check(command, date(2025, 4, 1), {}, CLOCK)  # a year before 1 April 2026
