"""Tracks' rule table of plausible dates (services/tracks/dates.py): each rule refuses what it names with a 422
naming the field and the rule, "today" is the Brussels day, and the docs show the table as the code has it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from harbour.clock import ManualClock
from harbour.plausibility import Implausible, render_markdown
from services.tracks.dates import RULES, check

# 23:30 UTC on 5 January is 00:30 on 6 January in Brussels (winter time): "today" is the 6th there.
CLOCK = ManualClock(datetime(2026, 1, 5, 23, 30, tzinfo=UTC))
TODAY = date(2026, 1, 6)
OPENED = {"track_opened_on": date(2026, 1, 2), "goal_set_on": date(2026, 1, 3), "last_reviewed_on": date(2026, 1, 4)}


def refused(command: str, values: dict[str, date]) -> tuple[str | None, str]:
    with pytest.raises(Implausible) as err:
        check(command, values, OPENED, CLOCK)
    return err.value.field, str(err.value.extra["rule"])


def test_a_session_is_held_between_the_tracks_opening_and_today_in_brussels() -> None:
    assert refused("record-session", {"held_on": date(2001, 3, 1)}) == ("held_on", "session-not-before-track-opened")
    assert refused("record-session", {"held_on": date(2026, 1, 7)}) == ("held_on", "session-not-in-the-future")
    check("record-session", {"held_on": TODAY}, OPENED, CLOCK)  # UTC still says the 5th: not the future here
    check("record-session", {"held_on": date(2026, 1, 2)}, OPENED, CLOCK)


def test_a_goals_target_may_lie_in_the_future_but_never_before_today_or_the_opening() -> None:
    assert refused("set-goal", {"target_date": date(2019, 1, 1)}) == (
        "target_date", "goal-target-not-before-track-opened")  # fmt: skip
    assert refused("set-goal", {"target_date": date(2026, 1, 5)}) == ("target_date", "goal-target-not-before-today")
    check("set-goal", {"target_date": date(2028, 12, 31)}, OPENED, CLOCK)
    check("set-goal", {"target_date": TODAY}, OPENED, CLOCK)


@pytest.mark.parametrize(("command", "rule"), [("progress-goal", "goal-progress"), ("achieve-goal", "goal-achieved"),
                                               ("drop-goal", "goal-dropped")])  # fmt: skip
def test_a_goal_changes_after_it_was_set_and_not_after_today(command: str, rule: str) -> None:
    assert refused(command, {"on": date(2026, 1, 2)}) == ("on", f"{rule}-not-before-goal-set")
    assert refused(command, {"on": date(2035, 1, 1)}) == ("on", f"{rule}-not-in-the-future")
    check(command, {"on": date(2026, 1, 3)}, OPENED, CLOCK)
    check(command, {"on": None}, OPENED, CLOCK)  # left out: today


def test_a_review_and_a_closure_happen_between_the_opening_and_today() -> None:
    assert refused("review-plan", {"on": date(2001, 1, 1)}) == ("on", "review-not-before-track-opened")
    assert refused("review-plan", {"on": date(2026, 1, 3)}) == ("on", "review-not-before-last-review")
    assert refused("review-plan", {"on": date(2035, 1, 1)}) == ("on", "review-not-in-the-future")
    assert refused("close-track", {"on": date(2001, 1, 1)}) == ("on", "closure-not-before-track-opened")
    assert refused("close-track", {"on": date(2026, 1, 7)}) == ("on", "closure-not-in-the-future")
    check("review-plan", {"on": TODAY}, {**OPENED, "last_reviewed_on": None}, CLOCK)
    check("close-track", {"on": TODAY}, OPENED, CLOCK)


def test_every_rule_has_a_unique_name_and_a_reason() -> None:
    names = [r.rule for r in RULES]
    assert len(names) == len(set(names)) == 16
    assert all(r.why for r in RULES)


def test_the_docs_show_tracks_rule_table_as_the_code_has_it() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "plausible-dates.md").read_text()
    assert render_markdown("tracks", RULES) in docs


def test_a_goal_target_more_than_five_years_ahead_is_refused() -> None:
    # A goal set for 9999-12-31 was accepted.
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    with pytest.raises(Implausible) as err:
        check("set-goal", {"target_date": date(9999, 12, 31)}, {"track_opened_on": date(2026, 1, 5)}, clock)
    assert (err.value.field, err.value.extra) == ("target_date", {"rule": "goal-target-within-five-years"})
    check("set-goal", {"target_date": date(2031, 3, 2)}, {"track_opened_on": date(2026, 1, 5)}, clock)
