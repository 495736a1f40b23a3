"""The signals catalogue: one versioned document (``signals-<version>.json``) that intake screens referrals with
and the signals service shows the public, so the professional screening and the public page never disagree.

Data, not code: a new signal needs no release of either service. Every signal and category carries its label in
the four languages the public pages speak (``labels``); ``label`` is the English one intake has always shown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from schemas.intake import ExploitationType, SignalCategory

CURRENT_CATALOGUE = "v1"
# Where the catalogues are read from. One place for both services; a test points it at a temporary copy.
CATALOGUE_DIR = Path(__file__).parent

Language = Literal["nl", "fr", "de", "en"]
LANGUAGES: tuple[Language, ...] = ("nl", "fr", "de", "en")


class Labels(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    nl: str
    fr: str
    de: str
    en: str

    def in_(self, language: Language) -> str:
        return str(getattr(self, language))


class Signal(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    label: str
    labels: Labels
    sources: tuple[str, ...]
    exploitation_type: ExploitationType | None = None


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: SignalCategory
    label: str
    labels: Labels
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
def _read(directory: Path, version: str) -> Catalogue:
    text = (directory / f"signals-{version}.json").read_text("utf-8")
    return parse_catalogue(json.loads(text))


def load_catalogue(version: str = CURRENT_CATALOGUE) -> Catalogue:
    """The catalogue of that version from :data:`CATALOGUE_DIR` (read once per directory: a published file
    never changes; a test's copy lives in a directory of its own)."""
    return _read(CATALOGUE_DIR, version)


__all__ = [
    "CATALOGUE_DIR",
    "CURRENT_CATALOGUE",
    "LANGUAGES",
    "Catalogue",
    "Category",
    "Labels",
    "Language",
    "Signal",
    "load_catalogue",
    "parse_catalogue",
]
