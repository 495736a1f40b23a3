"""harbour.plausibility: a date rule table refuses the first breach with the field and the rule."""

from __future__ import annotations

from datetime import date

import pytest

from harbour.plausibility import Bound, DateRule, Implausible, check, render_markdown

RULES = (
    DateRule("verdict", "delivered_on", Bound.NOT_BEFORE, "file_assigned_on", "verdict-not-before-file-assigned",
             "a verdict needs a file", required=True),
    DateRule("verdict", "delivered_on", Bound.NOT_AFTER, "today", "not-in-the-future", "nothing decided ahead"),
    DateRule("renewal", "requested_on", Bound.AFTER, "issued_on", "renewal-after-issue", "a renewal follows"),
)  # fmt: skip
TODAY = date(2026, 3, 1)


@pytest.mark.parametrize(
    ("command", "values", "history", "rule"),
    [
        ("verdict", {"delivered_on": date(2019, 5, 1)}, {"file_assigned_on": date(2026, 1, 10)},
         "verdict-not-before-file-assigned"),
        ("verdict", {"delivered_on": date(2026, 2, 1)}, {}, "verdict-not-before-file-assigned"),  # no file at all
        ("verdict", {"delivered_on": date(2026, 3, 2)}, {"file_assigned_on": date(2026, 1, 10)}, "not-in-the-future"),
        ("renewal", {"requested_on": date(2026, 2, 1)}, {"issued_on": date(2026, 2, 1)}, "renewal-after-issue"),
    ],
)  # fmt: skip
def test_a_date_that_breaks_a_rule_is_refused_naming_the_field_and_the_rule(command, values, history, rule) -> None:
    with pytest.raises(Implausible) as refused:
        check(RULES, command, values, history, today=TODAY)
    assert refused.value.status == 422
    assert refused.value.field == next(iter(values))
    assert refused.value.extra == {"rule": rule}


@pytest.mark.parametrize(
    ("command", "values", "history"),
    [
        ("verdict", {"delivered_on": date(2026, 1, 10)}, {"file_assigned_on": date(2026, 1, 10)}),  # same day
        ("verdict", {"delivered_on": TODAY}, {"file_assigned_on": date(2026, 1, 10)}),  # today itself
        ("renewal", {"requested_on": date(2026, 2, 2)}, {"issued_on": date(2026, 2, 1)}),  # the day after
        ("renewal", {"requested_on": date(2026, 2, 2)}, {}),  # no bound known and not required: no opinion
        ("verdict", {"delivered_on": None}, {}),  # a date not given is the command's own business
    ],
)
def test_the_boundary_of_each_rule_is_accepted(command, values, history) -> None:
    check(RULES, command, values, history, today=TODAY)


def test_the_rule_table_renders_for_the_docs() -> None:
    text = render_markdown("legal", RULES)
    assert "| verdict | `verdict-not-before-file-assigned` | delivered_on not before file assigned on |" in text
