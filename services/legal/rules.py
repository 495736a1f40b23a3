"""The residence rules of DOMAIN §2 as pure functions: validity periods, deadlines, stay on a given day.

Validity dates are always computed here, never typed in by a caseworker: a wrong expiry date is a serious
failure for the victim. ``ends_on`` is the last day a document is valid (the date printed on it).
"""

from __future__ import annotations

from dataclasses import dataclass
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
    """A renewal continues the document without a gap; decided after expiry, it can only start that day."""
    return max(current_ends_on + timedelta(days=1), decided_on)


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
