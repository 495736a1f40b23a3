"""Only plausible dates on a track: the rule table every dated tracks command is checked against.

Most of a track's dates are today where the case is (``harbour.clock.today``), set by the server; the caller types
a session's ``held_on``, a goal's ``target_date`` and, when a fact is recorded the day after, the ``on`` of a
goal's progress, achievement or drop, of a plan review and of the closure. The table below is the whole policy:
checked with :func:`harbour.plausibility.check` after access and before the domain (422 naming the field and the
rule) and rendered into docs/plausible-dates.md (a unit test compares). A fact that has happened is never in the
future; a goal's target date may be (it is a plan), never before the goal is set.

Bounds: ``today``; ``track_opened_on`` (the admission that opened the track); ``goal_set_on`` (the day the goal
was set); ``last_reviewed_on`` (the previous plan review, if any).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from harbour.clock import Clock, today
from harbour.plausibility import IN_FIVE_YEARS, TODAY, Bound, DateRule
from harbour.plausibility import check as _check

_NB, _NA = Bound.NOT_BEFORE, Bound.NOT_AFTER
_FUTURE = "it is recorded as having happened: a day not yet come is a typing error (2035)"
_PAST_TARGET = "a target is a plan set today: one already past can be neither worked towards nor reviewed"
_STARTED = "a goal is worked on once set: a start before it reorders the plan's history"
_BACKWARDS = "the next review is due from the last one: dated before it, the due dates would run backwards"
_OPENED = "the guidance began with the track: a date before it (2001 on a 2026 track) belongs to no guidance here"


def _happened(command: str, field: str, after: str, rule: str, why: str) -> tuple[DateRule, ...]:
    return (
        DateRule(command, field, _NB, after, f"{rule}-not-before-{after.removesuffix('_on').replace('_', '-')}", why),
        DateRule(command, field, _NA, TODAY, f"{rule}-not-in-the-future", _FUTURE),
    )


RULES: tuple[DateRule, ...] = (
    *_happened("record-session", "held_on", "track_opened_on", "session", _OPENED),
    DateRule("set-goal", "target_date", _NB, "track_opened_on", "goal-target-not-before-track-opened", _OPENED),
    DateRule("set-goal", "target_date", _NB, TODAY, "goal-target-not-before-today", _PAST_TARGET),
    DateRule(
        "set-goal",
        "target_date",
        _NA,
        IN_FIVE_YEARS,
        "goal-target-within-five-years",
        "a track runs two to three years, often longer, but a goal set for 9999 is no plan",
    ),
    *_happened("progress-goal", "on", "goal_set_on", "goal-progress", _STARTED),
    *_happened("achieve-goal", "on", "goal_set_on", "goal-achieved", "a goal is achieved after it was set"),
    *_happened("drop-goal", "on", "goal_set_on", "goal-dropped", "a goal is let go after it was set"),
    *_happened("review-plan", "on", "track_opened_on", "review", _OPENED),
    DateRule("review-plan", "on", _NB, "last_reviewed_on", "review-not-before-last-review", _BACKWARDS),
    *_happened("close-track", "on", "track_opened_on", "closure", _OPENED),
)


def check(command: str, values: Mapping[str, date | None], history: Mapping[str, date | None], clock: Clock) -> None:
    """Refuse (422) the first date of ``values`` that breaks one of ``command``'s rules; ``None`` passes."""
    _check(RULES, command, values, history, today=today(clock))
