"""The screening catalogue (versioned data) and the pure count that turns checked signals into a summary."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from harbour.errors import RuleViolation
from schemas.intake import ExploitationType, Recommendation, ScreeningSummary, SignalCategory

CURRENT_CATALOGUE = "v1"

# Payoke asks frontline services to refer when two or more signals appear together. This is the rule of the
# procedure, not a property of one catalogue, so it lives in code and a new catalogue cannot lower it.
TAKE_IN_THRESHOLD = 2


class Signal(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    label: str
    sources: tuple[str, ...]
    exploitation_type: ExploitationType | None = None


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: SignalCategory
    label: str
    signals: tuple[Signal, ...]


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    published_on: str
    note: str
    sources: dict[str, str]
    categories: tuple[Category, ...]

    @model_validator(mode="after")
    def _well_formed(self) -> Catalogue:
        # A broken catalogue must fail at load, not silently miscount a referral later.
        if {c.id for c in self.categories} != set(SignalCategory) or len(self.categories) != len(SignalCategory):
            raise ValueError("a catalogue lists every signal category exactly once")
        ids = [s.id for c in self.categories for s in c.signals]
        if len(ids) != len(set(ids)):
            raise ValueError("signal ids must be unique")
        unknown = {src for c in self.categories for s in c.signals for src in s.sources} - set(self.sources)
        if unknown:
            raise ValueError(f"signals cite unknown sources: {sorted(unknown)}")
        return self

    def category_of(self, signal_id: str) -> SignalCategory:
        for category in self.categories:
            if any(s.id == signal_id for s in category.signals):
                return category.id
        raise KeyError(signal_id)

    def signal_ids(self) -> frozenset[str]:
        return frozenset(s.id for c in self.categories for s in c.signals)


def parse_catalogue(data: Mapping[str, Any]) -> Catalogue:
    """Pure: a catalogue from its JSON document, validated."""
    return Catalogue.model_validate(data)


@lru_cache(maxsize=8)
def load_catalogue(version: str = CURRENT_CATALOGUE) -> Catalogue:
    """The packaged catalogue of that version (read once; the files never change once published)."""
    text = resources.files("services.intake.catalogue").joinpath(f"signals-{version}.json").read_text("utf-8")
    return parse_catalogue(json.loads(text))


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
