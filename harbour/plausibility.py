"""Only plausible dates: each service's table of date rules, checked before a command records anything.

A date a caller types can be wrong in ways no type catches: a statement dated 2001 on a case opened in 2026, a
verdict before the file was even assigned, a move dated 2035. Each service declares its rules as data (a
``DateRule`` per field and bound, ``RULES`` in the service), so the table is reviewed like code and rendered
into the docs; :func:`check` applies the rules of one command to its dates and the case's own history and
refuses the first breach with a 422 naming the field and the rule (``rule`` in the problem document).

Bounds are named dates of the case's history (``case_opened_on``, ``file_assigned_on``, ...) supplied by the
service when it checks, plus ``today`` (the jurisdiction's, harbour.clock.today). A bound the history does not
have yet (no file assigned) is itself a breach when the rule says ``required``: a verdict cannot come before
any file exists; otherwise it is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from harbour.dates import add_months
from harbour.errors import RuleViolation

TODAY = "today"
# Calendar bounds every table may name besides the case's own dates (relative to today): a hearing or a goal
# dated 9999-12-31 is a typing error as surely as one dated 2001, and a bed's state recorded more than a
# year late (0001-01-01) is no record of when it changed.
A_YEAR_AGO = "a_year_ago"
IN_FIVE_YEARS = "in_five_years"
IN_TEN_YEARS = "in_ten_years"


class Bound(StrEnum):
    NOT_BEFORE = "not before"
    NOT_AFTER = "not after"
    AFTER = "after"  # strictly later (a renewal requested on the day its document was issued is not one)


@dataclass(frozen=True)
class DateRule:
    """``field`` (of command ``command``) must be ``bound`` the case's date ``than`` (or ``today``)."""

    command: str
    field: str
    bound: Bound
    than: str
    rule: str  # the rule's name, as the 422 reports it: "verdict-not-before-file-assigned"
    why: str  # for the docs: the failure the rule prevents
    required: bool = False  # the bound must exist: a missing history date is itself a breach

    def describe(self) -> str:
        return f"{self.field} {self.bound.value} {self.than.replace('_', ' ')}"


class Implausible(RuleViolation):
    """A date that the case's own history or the calendar rules out (422, with the field and the rule)."""

    title = "The request records an implausible date"
    type_slug = "implausible-date"


def check(
    rules: Iterable[DateRule], command: str, values: Mapping[str, date | None], history: Mapping[str, date | None],
    *, today: date,
) -> None:  # fmt: skip
    """Raise :class:`Implausible` for the first rule of ``command`` that ``values`` break."""
    calendar = {TODAY: today, A_YEAR_AGO: add_months(today, -12), IN_FIVE_YEARS: add_months(today, 60),
                IN_TEN_YEARS: add_months(today, 120)}  # fmt: skip
    known = {**calendar, **history}  # a test (or a service) may pin a calendar bound
    for rule in rules:
        if rule.command != command:
            continue
        value = values.get(rule.field)
        if value is None:
            continue
        bound = known.get(rule.than)
        if bound is None:
            if rule.required:
                raise Implausible(f"{rule.field} cannot be recorded before {rule.than.replace('_', ' ')} is known",
                                  field=rule.field, rule=rule.rule)  # fmt: skip
            continue
        broken = (
            (rule.bound is Bound.NOT_BEFORE and value < bound)
            or (rule.bound is Bound.NOT_AFTER and value > bound)
            or (rule.bound is Bound.AFTER and value <= bound)
        )
        if broken:
            must = {Bound.NOT_BEFORE: "must not be before", Bound.NOT_AFTER: "must not be after",
                    Bound.AFTER: "must be after"}[rule.bound]  # fmt: skip
            raise Implausible(f"{rule.field} {must} {rule.than.replace('_', ' ')} ({bound})",
                              field=rule.field, rule=rule.rule)  # fmt: skip


def render_markdown(service: str, rules: Iterable[DateRule]) -> str:
    """The table for the docs (docs/plausible-dates.md holds every service's)."""
    lines = [f"### {service}", "", "| command | rule | check | why |", "|---|---|---|---|"]
    lines += [f"| {r.command} | `{r.rule}` | {r.describe()} | {r.why} |" for r in rules]
    return "\n".join(lines) + "\n"
