"""The residence rules of DOMAIN §2 as pure functions: validity periods, deadlines, stay on a given day.

Validity dates are always computed here, never typed in by a caseworker: a wrong expiry date is a serious
failure for the victim. ``ends_on`` is the last day a document is valid (the date printed on it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum

from harbour.dates import add_months
from schemas.legal import OpinionOutcome, OpinionStep, ResidenceDocument

REFLECTION_DAYS_ADULT = 45
REFLECTION_MONTHS_MINOR = 3
ATTESTATION_MONTHS = 3
ATTESTATION_MAX_RENEWALS = 1  # renewable once, and only while the prosecutor has not decided
A_CARD_MONTHS = 6
DEFAULT_REMINDER_DAYS: tuple[int, ...] = (14, 3)


@dataclass(frozen=True)
class ResidenceRules:
    """Settings of the procedure where the sources leave room."""

    # The sources disagree whether the prosecutor's requisitions asking for a trafficking conviction already
    # open the B-card (Art. 61/5 as reported by some) or only a conviction does; off unless decided otherwise.
    requisitions_suffice_for_b_card: bool = False
    reminder_days: tuple[int, ...] = DEFAULT_REMINDER_DAYS


DEFAULT_RULES = ResidenceRules()


# ---- calendar arithmetic ------------------------------------------------------------------------------------


def months_end(starts_on: date, months: int) -> date:
    """Last valid day of a period of ``months`` calendar months starting on ``starts_on`` (inclusive).

    The civil-law count runs to the eve of the same day number (15 Jan + 1 month ends 14 Feb). When that day
    number does not exist in the final month, the period ends on that month's last day (31 Jan + 1 month ends
    28 Feb) rather than spilling into March.
    """
    same_day = add_months(starts_on, months)
    if same_day.day < starts_on.day:  # clamped: the day number does not exist in the final month
        return same_day
    return same_day - timedelta(days=1)


def days_end(starts_on: date, days: int) -> date:
    """Last valid day of a period of ``days`` days counted from ``starts_on`` itself (45 days: start + 44)."""
    return starts_on + timedelta(days=days - 1)


def reflection_end(starts_on: date, *, unaccompanied_minor: bool) -> date:
    if unaccompanied_minor:
        return months_end(starts_on, REFLECTION_MONTHS_MINOR)
    return days_end(starts_on, REFLECTION_DAYS_ADULT)


def validity_end(document: ResidenceDocument, starts_on: date, *, unaccompanied_minor: bool = False) -> date | None:
    """Last valid day of a first issue (or, from its own start, of a renewal); None for the unlimited B-card."""
    match document:
        case ResidenceDocument.ANNEX_15:
            return reflection_end(starts_on, unaccompanied_minor=unaccompanied_minor)
        case ResidenceDocument.ATTESTATION_OF_IMMATRICULATION:
            return months_end(starts_on, ATTESTATION_MONTHS)
        case ResidenceDocument.A_CARD:
            return months_end(starts_on, A_CARD_MONTHS)
        case ResidenceDocument.B_CARD:
            return None


RENEWABLE = frozenset({ResidenceDocument.ATTESTATION_OF_IMMATRICULATION, ResidenceDocument.A_CARD})


def renewal_start(current_ends_on: date, decided_on: date) -> date:
    """A renewal continues the document without a gap; decided after expiry, it can only start that day (the
    gap before it is recorded explicitly: :func:`stay_gap`)."""
    return max(current_ends_on + timedelta(days=1), decided_on)


def stay_gap(previous_ends_on: date | None, starts_on: date) -> tuple[date, date] | None:
    """The days without valid stay between a document's last valid day and its successor's first, if any.

    A decision never covers those days backwards (the Immigration Office issues from its decision day), so a
    confirmation that came late leaves a gap that must be on the file: (first day without, last day without).
    """
    if previous_ends_on is None or starts_on <= previous_ends_on + timedelta(days=1):
        return None
    return previous_ends_on + timedelta(days=1), starts_on - timedelta(days=1)


def extended_reflection_end(starts_on: date, ends_on: date) -> date | None:
    """The new last day of a running Annex 15 once an unaccompanied minor is established: three months from
    its own start (not from the day minority was established), or None when it already runs that long."""
    extended = reflection_end(starts_on, unaccompanied_minor=True)
    return extended if extended > ends_on else None


# ---- the document in force ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentValidity:
    document: ResidenceDocument
    decided_on: date  # the Immigration Office's (last) decision for it
    starts_on: date
    ends_on: date | None  # None: unlimited
    renewals: int = 0

    def valid_on(self, day: date) -> bool:
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)


@dataclass(frozen=True)
class StayPeriod:
    """One validity period of the residence file's history: a first issue or one renewal, as decided.

    ``until`` is the last day it covered: its ``ends_on``, or the eve of the next period when a later document
    replaced it early (an attestation issued during the reflection period ends the Annex 15's coverage).
    """

    document: ResidenceDocument
    decided_on: date
    starts_on: date
    ends_on: date | None  # as issued (None: unlimited)
    renewal_number: int = 0
    until: date | None = None  # set by :func:`stay_history`

    def covers(self, day: date) -> bool:
        return self.starts_on <= day and (self.until is None or day <= self.until)


def stay_history(issued: Sequence[StayPeriod]) -> list[StayPeriod]:
    """The periods in decision order, each with the last day it covered (none overlaps the next)."""
    found = []
    for i, period in enumerate(issued):
        until = period.ends_on
        following = issued[i + 1] if i + 1 < len(issued) else None
        if following is not None and (until is None or following.starts_on <= until):
            until = max(following.starts_on - timedelta(days=1), period.starts_on - timedelta(days=1))
        found.append(replace(period, until=until))
    return found


@dataclass(frozen=True)
class StayOnDay:
    """The residence file's answer for one day: valid or not, the period covering it, or the gap it falls in."""

    on: date
    valid: bool
    basis: str  # "document", "eu-free-movement", "gap", "before-first-document"
    period: StayPeriod | None = None
    gap_from: date | None = None  # first day without valid stay
    gap_to: date | None = None  # last day without: None while no successor has been issued
    previous: StayPeriod | None = None  # the period the gap follows


def stay_on(history: Sequence[StayPeriod], day: date, *, eu_citizen: bool = False) -> StayOnDay:
    """Has the person a valid stay on ``day``? Over the whole history (from :func:`stay_history`), past days too.

    EU citizens stay under free movement whatever their (optional) document says.
    """
    period = next((p for p in reversed(history) if p.covers(day)), None)
    if eu_citizen:
        return StayOnDay(day, True, "eu-free-movement", period)
    if period is not None:
        return StayOnDay(day, True, "document", period)
    before = [p for p in history if p.until is not None and p.starts_on <= p.until < day]
    if not before:
        return StayOnDay(day, False, "before-first-document")
    previous = before[-1]
    assert previous.until is not None
    following = next((p for p in history if p.starts_on > day), None)
    gap_to = None if following is None else following.starts_on - timedelta(days=1)
    return StayOnDay(day, False, "gap", None, previous.until + timedelta(days=1), gap_to, previous)


def stay_valid_on(current: DocumentValidity | None, day: date, *, eu_citizen: bool = False) -> bool:
    """Whether the person's stay is covered on ``day`` (e.g. a hearing they must attend).

    EU citizens stay under free movement; their victim-status document is optional, so it never decides.
    """
    if eu_citizen:
        return True
    return current is not None and current.valid_on(day)


class DeadlineKind(StrEnum):
    REMINDER = "reminder"
    EXPIRY = "expiry"


@dataclass(frozen=True)
class Deadline:
    kind: DeadlineKind
    due_on: date
    document: ResidenceDocument
    ends_on: date
    days_before: int | None = None  # reminders only


def reminder_due(ends_on: date, days_before: int) -> date:
    return ends_on - timedelta(days=days_before)


def deadlines(
    current: DocumentValidity | None, *, reminder_days: tuple[int, ...] = DEFAULT_REMINDER_DAYS
) -> list[Deadline]:
    """The timers a document (or the reflection period's Annex 15) implies, earliest first.

    A reminder is due ``days_before`` days before the last valid day, so the centre can still request a
    renewal or record why not; reminders that would fall before the document even started are dropped. The
    expiry is due the first day the document is no longer valid.
    """
    if current is None or current.ends_on is None:
        return []
    ends_on = current.ends_on
    found = [
        Deadline(DeadlineKind.REMINDER, reminder_due(ends_on, n), current.document, ends_on, n)
        for n in sorted(set(reminder_days), reverse=True)
        if n > 0 and reminder_due(ends_on, n) >= current.starts_on
    ]
    found.append(Deadline(DeadlineKind.EXPIRY, ends_on + timedelta(days=1), current.document, ends_on))
    return found


# ---- facts from the criminal proceedings --------------------------------------------------------------------


@dataclass(frozen=True)
class MagistrateOpinion:
    step: OpinionStep
    outcome: OpinionOutcome
    given_on: date

    @property
    def favourable(self) -> bool:
        return self.outcome is OpinionOutcome.VICTIM


@dataclass(frozen=True)
class ProceedingsFacts:
    """What the residence procedure needs to know of the criminal proceedings.

    Built by ``CriminalProceedings.facts()``; the application layer passes it into residence commands, so the
    two aggregates stay separate streams and each command's basis is explicit.
    """

    statement_on: date | None = None  # first statement or complaint
    initial_opinion: MagistrateOpinion | None = None  # latest opinion for the first A-card
    renewal_confirmation: MagistrateOpinion | None = None  # latest opinion for an A-card renewal
    trafficking_conviction_on: date | None = None
    trafficking_requisitions_on: date | None = None
    concluded_on: date | None = None

    @property
    def prosecutor_decided(self) -> bool:
        """The prosecutor has taken a position: an opinion on victim status was given or the case is closed."""
        return self.initial_opinion is not None or self.concluded_on is not None


NO_FACTS = ProceedingsFacts()
