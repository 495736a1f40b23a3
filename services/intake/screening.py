"""The pure count that turns checked signals into a summary, against the shared signals catalogue
(``schemas/catalogue``: the one the public signal check shows too)."""

from __future__ import annotations

from collections.abc import Iterable

from harbour.errors import RuleViolation
from schemas.catalogue import CURRENT_CATALOGUE, Catalogue, load_catalogue, parse_catalogue
from schemas.intake import Recommendation, ScreeningSummary, SignalCategory

# Payoke asks frontline services to refer when two or more signals appear together. This is the rule of the
# procedure, not a property of one catalogue, so it lives in code and a new catalogue cannot lower it.
TAKE_IN_THRESHOLD = 2


def check_signals(catalogue: Catalogue, signal_ids: Iterable[str]) -> None:
    unknown = sorted(set(signal_ids) - catalogue.signal_ids())
    if unknown:
        raise RuleViolation(
            f"unknown signals for catalogue {catalogue.version}: {', '.join(unknown)}", field="signal_ids"
        )


def screen(catalogue: Catalogue, signal_ids: Iterable[str]) -> ScreeningSummary:
    """Count distinct signals per category and recommend an intake when enough appear together.

    The recommendation is advice to the centre; it never states that the person is (or is not) a victim."""
    distinct = set(signal_ids)
    check_signals(catalogue, distinct)
    counts = dict.fromkeys(SignalCategory, 0)  # every category present, so consumers need no defaults
    for signal_id in distinct:
        counts[catalogue.category_of(signal_id)] += 1
    take_in = len(distinct) >= TAKE_IN_THRESHOLD
    return ScreeningSummary(
        catalogue_version=catalogue.version,
        counts=counts,
        signal_count=len(distinct),
        recommendation=Recommendation.TAKE_IN if take_in else Recommendation.GATHER_MORE_INFORMATION,
    )


__all__ = [
    "CURRENT_CATALOGUE",
    "TAKE_IN_THRESHOLD",
    "Catalogue",
    "check_signals",
    "load_catalogue",
    "parse_catalogue",
    "screen",
]
