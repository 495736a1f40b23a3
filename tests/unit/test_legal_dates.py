"""The legal date rules (services/legal/dates.RULES): each rule refuses a date past its bound and accepts
the bound itself; every date a caller can type is covered; the docs show the table as it is."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from harbour.errors import RuleViolation
from harbour.plausibility import TODAY, Bound, DateRule, Implausible, check, render_markdown
from schemas.audiences import PROSECUTION_OFFICES
from services.legal.access import ACCESS, Action
from services.legal.api import models
from services.legal.dates import RULES, check_office, dates_of

DAY = timedelta(days=1)
BOUND = date(2026, 3, 10)
READS = {Action.READ_RESIDENCE, Action.READ_PROCEEDINGS, Action.READ_DEADLINES}


def _satisfied(rule: DateRule, value: date) -> date:
    """A bound that ``value`` keeps for ``rule``: the other rules of a command must not answer for this one."""
    return value + DAY if rule.bound is Bound.NOT_AFTER else value - DAY


def _run(rule: DateRule, value: date) -> None:
    """Check ``value`` for ``rule``'s field against every rule of its command, only ``rule``'s bound at BOUND."""
    history: dict[str, date | None] = {}
    today = value + DAY
    for other in RULES:
        if other.command == rule.command and other.field == rule.field and other is not rule:
            if other.than == TODAY:
                today = _satisfied(other, value)
            else:
                history[other.than] = _satisfied(other, value)
    if rule.than == TODAY:
        today = BOUND
    else:
        history[rule.than] = BOUND
    check(RULES, rule.command, {rule.field: value}, history, today=today)


def _boundary(rule: DateRule) -> tuple[date, date]:
    """(the latest or earliest value the rule accepts, the first it refuses)."""
    match rule.bound:
        case Bound.NOT_BEFORE:
            return BOUND, BOUND - DAY
        case Bound.NOT_AFTER:
            return BOUND, BOUND + DAY
        case Bound.AFTER:
            return BOUND + DAY, BOUND


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.rule)
def test_each_rule_refuses_a_date_past_its_bound_with_its_field_and_name(rule: DateRule) -> None:
    _, refused = _boundary(rule)
    with pytest.raises(Implausible) as raised:
        _run(rule, refused)
    assert (raised.value.field, raised.value.extra, raised.value.status) == (rule.field, {"rule": rule.rule}, 422)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.rule)
def test_each_rule_accepts_the_date_on_its_bound(rule: DateRule) -> None:
    accepted, _ = _boundary(rule)
    _run(rule, accepted)


@pytest.mark.parametrize("rule", [r for r in RULES if r.required], ids=lambda r: r.rule)
def test_a_required_bound_the_case_does_not_have_yet_refuses_the_date(rule: DateRule) -> None:
    with pytest.raises(Implausible) as raised:
        check(RULES, rule.command, {rule.field: BOUND}, {}, today=BOUND)
    assert raised.value.extra == {"rule": rule.rule}


def test_a_bound_the_case_does_not_have_is_skipped_unless_required() -> None:
    optional = [r for r in RULES if not r.required and r.than != TODAY]
    assert len(optional) >= 10
    for rule in optional:
        check([rule], rule.command, {rule.field: BOUND}, {}, today=BOUND)


def test_every_command_and_every_date_a_caller_can_type_has_rules_and_none_in_the_future() -> None:
    commands = {a.value for a in ACCESS if a not in READS}
    assert {r.command for r in RULES} == commands
    for command in commands:
        assert any(r.field == "on" and r.than == TODAY and r.bound is Bound.NOT_AFTER
                   for r in RULES if r.command == command), command  # fmt: skip
    # The hearing's own day is the one date besides "on" a body carries: bounded, and allowed in the future.
    typed = {name for model in vars(models).values() if isinstance(model, type) and issubclass(model, models.Command)
             for name, f in model.model_fields.items() if f.annotation in (date, date | None)}  # fmt: skip
    assert typed == {"on", "hearing_on"}
    hearing = [r for r in RULES if r.field == "hearing_on"]
    assert [(r.bound, r.than, r.required) for r in hearing] == [
        (Bound.NOT_BEFORE, "file_assigned_on", True),
        (Bound.NOT_AFTER, "in_ten_years", False),
    ]


def test_rule_names_are_unique_and_say_what_they_check() -> None:
    names = [r.rule for r in RULES]
    assert len(set(names)) == len(names) == len(RULES)
    assert all(r.why and r.rule.replace("-", "").isalpha() for r in RULES)


def test_the_examples_of_the_issue_are_refused_by_their_rule() -> None:
    opened = date(2026, 1, 5)
    today = date(2026, 2, 1)

    def rule_of(command: Action, on: date, **history: date) -> str | None:
        try:
            check(RULES, command.value, {"on": on}, {"case_opened_on": opened, **history}, today=today)
        except Implausible as refused:
            return refused.extra["rule"]  # type: ignore[return-value]
        return None

    assert rule_of(Action.RECORD_STATEMENT, date(2001, 6, 1)) == "statement-not-before-case-opened"
    verdict_2019 = rule_of(Action.RECORD_VERDICT, date(2019, 6, 1), file_assigned_on=opened)
    assert verdict_2019 == "verdict-not-before-file-assigned"
    assert rule_of(Action.RECORD_VERDICT, today + DAY, file_assigned_on=opened) == "verdict-not-in-future"
    assert rule_of(Action.RECORD_VERDICT, today) == "verdict-not-before-file-assigned"  # no file: no verdict
    same_day = rule_of(Action.REQUEST_RENEWAL, today, attestation_issued_on=today)
    assert same_day == "renewal-request-after-attestation-issued"
    assert rule_of(Action.REQUEST_RENEWAL, today, attestation_issued_on=today - DAY) is None
    assert rule_of(Action.RECORD_STATEMENT, opened) is None


def test_a_body_without_on_is_dated_today_and_its_other_dates_are_checked_too() -> None:
    body = models.Hearing(court="criminal-court-antwerp", hearing_on=date(2026, 9, 1), attendance_required=True)
    assert dates_of(body, date(2026, 2, 1)) == {"on": date(2026, 2, 1), "hearing_on": date(2026, 9, 1)}


def test_an_office_the_registry_does_not_know_is_refused_with_the_valid_ids() -> None:
    with pytest.raises(RuleViolation) as raised:
        check_office("prosecution-atlantis")
    assert raised.value.field == "office"
    assert raised.value.extra["allowed"] == list(PROSECUTION_OFFICES)
    assert "federal-prosecution" in raised.value.extra["allowed"]
    for office in ("prosecution-antwerp", "labour-auditorate-liege", "federal-prosecution"):
        check_office(office)


def test_the_docs_show_the_legal_rule_table_as_it_is() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "plausible-dates.md").read_text()
    assert render_markdown("legal", RULES) in docs


def test_a_hearing_dated_9999_is_refused_and_one_within_ten_years_accepted() -> None:
    history = {"file_assigned_on": date(2026, 1, 10)}
    with pytest.raises(Implausible) as raised:
        check(RULES, Action.SCHEDULE_HEARING.value, {"hearing_on": date(9999, 12, 31)}, history, today=date(2026, 3, 1))
    assert raised.value.extra == {"rule": "hearing-within-ten-years"}
    check(RULES, Action.SCHEDULE_HEARING.value, {"hearing_on": date(2036, 3, 1)}, history, today=date(2026, 3, 1))
