"""Only plausible dates in intake: the table of every date a caller can type, checked before anything is recorded.

Intake dates most of its facts itself, with the jurisdiction's today (harbour.clock.today): a submission,
screening, decision, consent, identity capture, admission and erasure happen when they are recorded. A caller
types a date only where the fact happened before it could be recorded: an intake interview held in the field,
a minority established or disproved (an age assessment's result, a birth certificate received by post), and a
person's date of birth. Those are the rules below; docs/plausible-dates.md renders them (a test keeps the two
equal). The bounds are the case's own history (``history``) and today.
"""

from __future__ import annotations

from datetime import date

from harbour.plausibility import TODAY, Bound, DateRule

# fmt: off
RULES: tuple[DateRule, ...] = (
    DateRule("referral.submit", "person.date_of_birth", Bound.NOT_AFTER, TODAY, "birth-not-in-future",
             "a referrer's typing error would make the person unborn"),
    DateRule("referral.identity", "date_of_birth", Bound.NOT_AFTER, TODAY, "birth-not-in-future",
             "a typing error would make the person unborn"),
    DateRule("referral.interview", "held_on", Bound.NOT_AFTER, TODAY, "interview-not-in-future",
             "an interview is recorded once held, not planned here"),
    DateRule("referral.interview", "held_on", Bound.NOT_BEFORE, "referral_submitted_on",
             "interview-not-before-referral", "no intake interview on a referral not yet made", required=True),
    DateRule("case.minority", "on", Bound.NOT_AFTER, TODAY, "minority-established-not-in-future",
             "an age assessment is recorded once its result is known"),
    DateRule("case.minority", "on", Bound.NOT_BEFORE, "case_opened_on", "minority-established-not-before-case",
             "before admission minority is flagged on the referral; a date before the case would move legal's "
             "reflection period back", required=True),
    DateRule("case.minority.disproved", "on", Bound.NOT_AFTER, TODAY, "minority-disproved-not-in-future",
             "a disproval is recorded once its result is known"),
    DateRule("case.minority.disproved", "on", Bound.NOT_BEFORE, "case_opened_on",
             "minority-disproved-not-before-case", "nothing of the case precedes its opening", required=True),
    DateRule("case.minority.disproved", "on", Bound.NOT_BEFORE, "minority_established_on",
             "minority-disproved-not-before-established", "a minority cannot be disproved before it was found"),
)
# fmt: on


def history_of(*, submitted_on: date | None = None, opened_on: date | None = None,
               minority_established_on: date | None = None) -> dict[str, date | None]:  # fmt: skip
    """The named dates of a case's history the rules above compare with."""
    return {"referral_submitted_on": submitted_on, "case_opened_on": opened_on,
            "minority_established_on": minority_established_on}  # fmt: skip
