"""Only plausible dates in housing: the rule table every dated housing command is checked against.

A housing date is typed by staff (``on`` of a move, an exit, a bed's change, a host's answer) or defaults to
today where the case is (``harbour.clock.today``). The table below is the whole policy: it is checked with
:func:`harbour.plausibility.check` before a command records anything (422 naming the field and the rule) and
rendered into docs/plausible-dates.md (a unit test compares). The domain keeps its own invariants (a move never
precedes the previous one); this table adds the calendar and the case's history as the API sees them.

Bounds: ``today``; ``case_opened_on`` (intake's admission, as housing learnt it); ``housed_since`` (the day the
person entered their current housing: the shelter bed, the transitional or independent home); ``requested_on``
(the day a placement request was made, where the case is).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from harbour.clock import Clock, today
from harbour.plausibility import A_YEAR_AGO, TODAY, Bound, DateRule
from harbour.plausibility import check as _check

_NB, _NA = Bound.NOT_BEFORE, Bound.NOT_AFTER
_FUTURE = "a fact recorded as happened cannot have happened after today (a move dated 2035)"


def _path(command: str, fact: str) -> tuple[DateRule, ...]:
    return (
        DateRule(command, "on", _NB, "housed_since", f"{command}-not-before-housed-since",
                 f"{fact} cannot precede the person's entry into the housing they leave"),
        DateRule(command, "on", _NB, "case_opened_on", f"{command}-not-before-case-opened",
                 f"{fact} before the person was admitted (a move dated 1999) belongs to no case of the centre"),
        DateRule(command, "on", _NA, TODAY, f"{command}-not-in-the-future", _FUTURE),
    )  # fmt: skip


def _answer(command: str, what: str) -> tuple[DateRule, ...]:
    return (
        DateRule(command, "on", _NB, "requested_on", f"{command}-not-before-request",
                 f"a request cannot be {what} before it was made"),
        DateRule(command, "on", _NA, TODAY, f"{command}-not-in-the-future", _FUTURE),
    )  # fmt: skip


def _bed(command: str, why: str) -> tuple[DateRule, ...]:
    return (
        DateRule(command, "on", _NA, TODAY, f"{command}-not-in-the-future", why),
        DateRule(
            command,
            "on",
            _NB,
            A_YEAR_AGO,
            f"{command}-not-a-year-late",
            "a bed's change may be recorded late, but not by more than a year: 0001-01-01 is a typing error, "
            "not a day in the life of the house",
        ),
    )


RULES: tuple[DateRule, ...] = (
    *_path("move", "a move"),
    *_path("exit", "an exit"),
    *_bed("add-bed", "a bed added from a later day is capacity the centre does not have yet, and would be given away"),
    *_bed("bed-out-of-service", "a bed out of service from a later day is a plan, not a fact: record it on the day"),
    *_bed("bed-in-service", "a bed back in service from a later day would be given to someone waiting tonight"),
    *_answer("accept-cross-centre", "accepted"),
    *_answer("decline-cross-centre", "declined"),
    *_answer("withdraw-request", "withdrawn"),
)


def check(command: str, on: date | None, history: Mapping[str, date | None], clock: Clock) -> None:
    """Refuse ``on`` (422) when it breaks one of ``command``'s rules; ``None`` (today by default) passes."""
    _check(RULES, command, {"on": on}, history, today=today(clock))
