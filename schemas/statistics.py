"""Published contracts of the statistics service (topic ``statistics.events.v1``, keyed by the release's period).

A release is a set of aggregate tables for one period, built from the service's de-identified fact table and
published once: it is never changed, a correction is a release of its own (the next version of the period).
No release names a case, a referral, a person or a pseudonym: its cells are counts of cases sharing coarse
attributes, and a count below the release's threshold ``k`` is published as suppressed (``count`` None), or
(differential privacy) every count carries calibrated noise.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from harbour.events import DomainEvent


class DisclosureMode(StrEnum):
    """How a release keeps any one person from being singled out of its figures."""

    # Every published count is >= k or suppressed, with complementary suppression so that no suppressed cell
    # can be recomputed from the margins and the other cells; medians and quartiles only over >= k cases.
    SUPPRESSION = "suppression"
    # Every count is released with discrete Laplace noise (OpenDP) calibrated to the release's ``epsilon``, split
    # evenly over its tables (one case is in one cell of each); margins are sums of the noisy cells, negative
    # counts read as 0 (post-processing, no further cost); durations are not released. A period's releases
    # together spend at most the service's budget per period.
    DIFFERENTIAL_PRIVACY = "differential-privacy"


class Suppressed(StrEnum):
    """Why a cell reads as suppressed."""

    PRIMARY = "primary"  # its own count is between 1 and k - 1
    COMPLEMENTARY = "complementary"  # suppressed so that a primary cell cannot be recomputed from the others


class Cell(BaseModel):
    """One count of a two-way table; a row or column of ``"total"`` is a margin."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    row: str
    column: str
    count: int | None = Field(ge=0, le=2**31 - 1, description="None: suppressed")
    suppressed: Suppressed | None = None


class Table(BaseModel):
    """A two-way table with its margins: ``rows`` × ``columns`` plus a ``total`` row and column."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str  # e.g. "form-by-age-group"
    title: str
    row_dimension: str
    column_dimension: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[Cell, ...]


class Duration(BaseModel):
    """Days between two steps of a case, over the cases that reached both (quartiles only over >= k cases)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step: str  # e.g. "admission-to-annex-15"
    cases: int | None = Field(ge=0, le=2**31 - 1, description="None: fewer than k cases")
    q1_days: float | None = None
    median_days: float | None = None
    q3_days: float | None = None


class StatisticsReleased(DomainEvent):
    """A release of the statistics for a period: immutable; a later version of the period supersedes it."""

    event_type: ClassVar[str] = "StatisticsReleased"
    schema_version: ClassVar[int] = 1

    release_id: str  # "<period>-v<version>", e.g. "2026-v1"
    period: int = Field(ge=2000, le=2100, description="the year of admission the release counts")
    version: int = Field(ge=1, le=2**31 - 1)
    mode: DisclosureMode
    k: int = Field(ge=2, le=1000, description="the smallest count published")
    public: bool  # whether anyone may read it, or only the national rapporteur
    facts_as_of: int = Field(ge=0, le=2**62, description="the fact table's revision the tables were built from")
    cases: int | None = Field(ge=0, le=2**31 - 1, description="cases counted (None: fewer than k)")
    tables: tuple[Table, ...]
    durations: tuple[Duration, ...]
    released_on: date
    # Differential privacy only: the privacy loss this release spends (its tables together), and the noise scale
    # of every cell (discrete Laplace), so a reader can tell how far a count may be from the truth.
    epsilon: float | None = Field(None, gt=0, le=10)
    noise_scale: float | None = Field(None, gt=0)


STATISTICS_EVENTS: tuple[type[DomainEvent], ...] = (StatisticsReleased,)
