"""Releases: the standard tables of a period built from the facts, protected, and recorded once.

Pure: no I/O. Every table's rows and columns are closed lists fixed here, never the values that happen to occur:
a category appearing in one release and not in the previous would itself say that someone arrived in it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from harbour.aggregate import Aggregate
from harbour.errors import RuleViolation
from harbour.events import DomainEvent
from harbour.organisations import BELGIAN_DISTRICTS, CENTRES, OrgKind
from schemas.intake import AgeBand, ExploitationType, Sex, WorldRegion
from schemas.statistics import Cell, DisclosureMode, Duration, StatisticsReleased, Suppressed, Table
from services.statistics import disclosure
from services.statistics.facts import MULTIPLE, NOT_RECORDED, STAGES, VERDICTS, Fact

DEFAULT_K = 11  # the threshold the IOM–Polaris data collaborative (CTDC) publishes with
TOTAL = "total"


@dataclass(frozen=True)
class Dimension:
    name: str
    values: tuple[str, ...]
    of: Callable[[Fact], str]


FORM = Dimension("form", (*(f.value for f in ExploitationType), MULTIPLE, NOT_RECORDED), lambda f: f.form)
# Always known of a counted case (intake's CaseOpened says them): no "not-recorded" column of structural zeros,
# which would only cost suppressions.
AGE_GROUP = Dimension("age group", ("minor", "adult"), lambda f: f.age_group)
CITIZENSHIP = Dimension("citizenship", ("eu", "non-eu"), lambda f: f.citizenship)
QUARTER = Dimension("quarter of admission", ("q1", "q2", "q3", "q4"), lambda f: f.quarter)
# The kinds of organisation that refer (harbour.organisations); any other kind counts as "other".
_REFERRERS = (OrgKind.POLICE.value, OrgKind.INSPECTORATE.value, OrgKind.PROSECUTION.value, OrgKind.FIRST_LINE.value)
REFERRER = Dimension("referrer kind", (*_REFERRERS, "other"),
                     lambda f: f.referrer_kind if f.referrer_kind in _REFERRERS else "other")  # fmt: skip
CENTRE = Dimension("centre", CENTRES, lambda f: f.centre or "")
STAGE = Dimension("furthest residence stage", STAGES, lambda f: f.stage)
VERDICT = Dimension("verdict", (*VERDICTS, "none"), lambda f: f.verdict or "none")
CIVIL_PARTY = Dimension("civil party", ("civil-party", "not-civil-party"),
                        lambda f: "civil-party" if f.civil_party else "not-civil-party")  # fmt: skip
DISTRICT = Dimension("judicial district", (*BELGIAN_DISTRICTS, "federal", "other", NOT_RECORDED), lambda f: f.district)


def _course(fact: Fact) -> str:
    return "voluntary-return" if fact.voluntary_return else "lapsed" if fact.lapsed else "neither"


COURSE = Dimension("course of the stay", ("voluntary-return", "lapsed", "neither"), _course)

# Sex as Eurostat's trafficking tables break it down (female, male, unknown), with "other" counted in the third
# column: a person who recorded "other" is one of very few, so a column of their own would be a column of
# counts below k in every release, each costing a complementary suppression in every row of the table; and
# that column would tell the reader of a small row (a rare form, a rare region) that its one person said
# "other". The record keeps what the person said (intake's Sex); the tables count it with "not known".
OTHER_OR_UNKNOWN = "other-or-unknown"
SEX = Dimension("sex", (Sex.FEMALE.value, Sex.MALE.value, OTHER_OR_UNKNOWN),
                lambda f: f.sex if f.sex in (Sex.FEMALE, Sex.MALE) else OTHER_OR_UNKNOWN)  # fmt: skip
# The age band (facts.Fact.age_band: "unknown" where it contradicts the minor / adult decision).
AGE_BAND = Dimension("age band", tuple(b.value for b in AgeBand), lambda f: f.age_band)
REGION = Dimension("world region", tuple(r.value for r in WorldRegion), lambda f: f.world_region)


# name, title, row dimension, column dimension: what the rapporteur and Eurostat's trafficking tables publish.
# Not among them: Eurostat's form of exploitation by sex and minor / adult together (six columns). Over the seeded
# population of 2,000 cases (tests/support/statistics_population.py) at k = 11 its suppression hid 66 of its 77
# cells and published 3 of its 60 inner cells, alone or protected with the others: a table that says nothing.
# Form by sex and form by age group, each with its own margins, say what can be said.
STANDARD_TABLES: tuple[tuple[str, str, Dimension, Dimension], ...] = (
    ("form-by-age-group", "Victims by form of exploitation and age group", FORM, AGE_GROUP),
    ("form-by-citizenship", "Victims by form of exploitation and citizenship", FORM, CITIZENSHIP),
    ("form-by-quarter", "Victims by form of exploitation and quarter of admission", FORM, QUARTER),
    ("referrer-by-centre", "Victims by kind of referrer and centre", REFERRER, CENTRE),
    ("stage-by-citizenship", "Furthest residence document reached, by citizenship", STAGE, CITIZENSHIP),
    ("course-by-centre", "Voluntary returns and lapses of stay, by centre", COURSE, CENTRE),
    ("verdict-by-civil-party", "Outcome of the proceedings, by civil party", VERDICT, CIVIL_PARTY),
    ("district-by-age-group", "Victims by judicial district of the proceedings and age group", DISTRICT, AGE_GROUP),
    ("form-by-sex", "Victims by form of exploitation and sex", FORM, SEX),
    ("age-band-by-sex", "Victims by age band at identification and sex", AGE_BAND, SEX),
    ("region-by-sex", "Victims by world region of citizenship and sex", REGION, SEX),
)

# Days between two steps, over the cases that reached both.
STEPS: tuple[tuple[str, Callable[[Fact], date | None], Callable[[Fact], date | None]], ...] = (
    ("admission-to-annex-15", lambda f: f.opened_on, lambda f: f.stage_days.get("annex-15")),
    ("annex-15-to-attestation", lambda f: f.stage_days.get("annex-15"), lambda f: f.stage_days.get("attestation")),
    ("attestation-to-a-card", lambda f: f.stage_days.get("attestation"), lambda f: f.stage_days.get("a-card")),
    ("a-card-to-b-card", lambda f: f.stage_days.get("a-card"), lambda f: f.stage_days.get("b-card")),
    ("admission-to-verdict", lambda f: f.opened_on, lambda f: f.verdict_on),
)


def counts(facts: Sequence[Fact], rows: Dimension, columns: Dimension) -> np.ndarray:
    grid = np.zeros((len(rows.values), len(columns.values)), dtype=np.int64)
    row_at = {v: i for i, v in enumerate(rows.values)}
    column_at = {v: i for i, v in enumerate(columns.values)}
    for fact in facts:
        grid[row_at[rows.of(fact)], column_at[columns.of(fact)]] += 1
    return grid


def _table_of(name: str, title: str, rows: Dimension, columns: Dimension, protected: disclosure.Protected) -> Table:
    row_names, column_names = (*rows.values, TOTAL), (*columns.values, TOTAL)
    cells = tuple(
        Cell(row=row, column=column, count=protected.published(r, c),
             suppressed=Suppressed(protected.reasons[(r, c)]) if (r, c) in protected.reasons else None)
        for r, row in enumerate(row_names) for c, column in enumerate(column_names)
    )  # fmt: skip
    return Table(name=name, title=title, row_dimension=rows.name, column_dimension=columns.name, rows=rows.values,
                 columns=columns.values, cells=cells)  # fmt: skip


def table(name: str, title: str, rows: Dimension, columns: Dimension, facts: Sequence[Fact], k: int, *,
          complementary: bool = True) -> Table:  # fmt: skip
    """One table protected on its own (``tables`` protects a release's together)."""
    return _table_of(name, title, rows, columns,
                     disclosure.protect(counts(facts, rows, columns), k, complementary=complementary))  # fmt: skip


def margins(rows: Dimension, columns: Dimension) -> dict[tuple[int, int], tuple[str, str]]:
    """The margins of a ``rows`` × ``columns`` table (cells of its grid with totals) by what they count: the same
    figure in every table with that dimension, row or column (the forms' totals are in four tables, the sexes'
    in three; the grand total, the count of cases, in all)."""
    height, width = len(rows.values), len(columns.values)
    found = {(r, width): (rows.name, value) for r, value in enumerate(rows.values)}
    found |= {(height, c): (columns.name, value) for c, value in enumerate(columns.values)}
    found[(height, width)] = (TOTAL, TOTAL)
    return found


def tables(facts: Sequence[Fact], k: int, *, complementary: bool = True) -> tuple[Table, ...]:
    """The tables of a release, protected together: a margin shared by several tables and suppressed in one is
    suppressed in every one (an attacker would otherwise read it in the table publishing it and recompute the
    cells the other one hid with it), and the tables are protected again with those margins hidden, until no
    table suppresses a shared margin that another publishes (a fixed point: the hidden margins only grow). The
    grand total is never a complementary cell while the release publishes its count of cases."""
    standard = STANDARD_TABLES
    grids = [counts(facts, rows, columns) for _, _, rows, columns in standard]
    shared = [margins(rows, columns) for _, _, rows, columns in standard]
    keep = [frozenset({cell for cell, key in m.items() if key == (TOTAL, TOTAL)}) if len(facts) >= k else frozenset()
            for m in shared]  # fmt: skip
    hide: list[set[tuple[int, int]]] = [set() for _ in standard]
    protected = [disclosure.protect(grid, k, complementary=complementary, keep=kept)
                 for grid, kept in zip(grids, keep, strict=True)]  # fmt: skip
    while complementary:
        hidden = {m[cell] for m, p in zip(shared, protected, strict=True) for cell in p.reasons if cell in m}
        more = {i: {cell for cell, key in m.items() if key in hidden and cell not in p.reasons}
                for i, (m, p) in enumerate(zip(shared, protected, strict=True))}  # fmt: skip
        if not any(more.values()):
            break
        for i, cells in more.items():
            if cells:  # only the tables given a margin more to hide are protected again
                hide[i] |= cells
                protected[i] = disclosure.protect(grids[i], k, hide=frozenset(hide[i]), keep=keep[i])
    return tuple(_table_of(name, title, rows, columns, p)
                 for (name, title, rows, columns), p in zip(standard, protected, strict=True))  # fmt: skip


def noisy_table(name: str, title: str, rows: Dimension, columns: Dimension, facts: Sequence[Fact],
                scale: float) -> Table:  # fmt: skip
    """The table's cells with discrete Laplace noise of ``scale`` (OpenDP); margins are sums of the noisy cells."""
    grid = counts(facts, rows, columns)
    noisy = np.array(disclosure.laplace(scale)([int(v) for v in grid.ravel()]), dtype=np.int64).reshape(grid.shape)
    noisy = np.clip(noisy, 0, None)  # a negative count says nothing more than 0: post-processing, no cost
    row_names, column_names = (*rows.values, TOTAL), (*columns.values, TOTAL)

    def value(r: int, c: int) -> int:
        if r < grid.shape[0] and c < grid.shape[1]:
            return int(noisy[r, c])
        if r < grid.shape[0]:
            return int(noisy[r].sum())
        if c < grid.shape[1]:
            return int(noisy[:, c].sum())
        return int(noisy.sum())

    cells = tuple(Cell(row=row, column=column, count=value(r, c))
                  for r, row in enumerate(row_names) for c, column in enumerate(column_names))  # fmt: skip
    return Table(name=name, title=title, row_dimension=rows.name, column_dimension=columns.name, rows=rows.values,
                 columns=columns.values, cells=cells)  # fmt: skip


def build_private(facts: Sequence[Fact], *, period: int, epsilon: float) -> tuple[int, tuple[Table, ...], float]:
    """The standard tables of ``period`` under ``epsilon``-differential privacy: each table gets an even share
    (one case is in exactly one cell of each, so the tables compose and the cells of one table do not); the
    count of cases is the first table's noisy total. Durations are not released in this mode."""
    counted = in_period(facts, period)
    scale = disclosure.laplace_scale(epsilon / len(STANDARD_TABLES))
    noisy = tuple(noisy_table(name, title, rows, columns, counted, scale)
                  for name, title, rows, columns in STANDARD_TABLES)  # fmt: skip
    total = next(c.count for c in noisy[0].cells if c.row == TOTAL and c.column == TOTAL)
    return int(total or 0), noisy, scale


def duration(step: str, facts: Sequence[Fact], start: Callable[[Fact], date | None],
             end: Callable[[Fact], date | None], k: int) -> Duration:  # fmt: skip
    days = [(e - s).days for f in facts if (s := start(f)) is not None and (e := end(f)) is not None]
    if len(days) < k:
        return Duration(step=step, cases=None)
    # Whole days: a quartile to the hour would move with any one case more than the step it measures.
    q1, median, q3 = (round(float(q)) for q in np.percentile(days, [25, 50, 75]))
    return Duration(step=step, cases=len(days), q1_days=q1, median_days=median, q3_days=q3)


def in_period(facts: Sequence[Fact], period: int) -> list[Fact]:
    return [f for f in facts if f.counted and f.year == period]


def build(facts: Sequence[Fact], *, period: int, k: int = DEFAULT_K,
          complementary: bool = True) -> tuple[int | None, tuple[Table, ...], tuple[Duration, ...]]:  # fmt: skip
    """The standard tables and durations of ``period`` over ``facts`` (all of them; those of the period count)."""
    counted = in_period(facts, period)
    protected = tables(counted, k, complementary=complementary)
    durations = tuple(duration(step, counted, start, end, k) for step, start, end in STEPS)
    return (len(counted) if len(counted) >= k else None), protected, durations


class ReleaseSeries(Aggregate):
    """The releases of one period: version 1, 2, ... each immutable once recorded."""

    stream_type = "releases"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.versions = 0
        self.epsilon_spent = 0.0  # by the period's differentially private releases so far

    @property
    def period(self) -> int:
        return int(self.id)

    def release(self, *, mode: DisclosureMode, k: int, public: bool, facts_as_of: int, facts: Sequence[Fact],
                on: date, epsilon: float | None = None, budget: float = 1.0) -> StatisticsReleased:  # fmt: skip
        if k < DEFAULT_K:
            raise RuleViolation(f"a release publishes no count below {DEFAULT_K}", field="k")
        if self.period > on.year:
            raise RuleViolation("a period that has not begun has no figures", field="period")
        version = self.versions + 1
        common = {"release_id": f"{self.period}-v{version}", "period": self.period, "version": version, "mode": mode,
                  "k": k, "public": public, "facts_as_of": facts_as_of, "released_on": on}  # fmt: skip
        if mode is DisclosureMode.DIFFERENTIAL_PRIVACY:
            if epsilon is None:
                raise RuleViolation("a differentially private release states the epsilon it spends", field="epsilon")
            left = budget - self.epsilon_spent
            # A hair of tolerance: ten releases of 0.1 add up to 0.9999999999999999, not to more than 1.
            if epsilon > left + 1e-9:
                raise RuleViolation(f"the privacy budget of {self.period} has {max(left, 0):.4g} of {budget:.4g} left; "
                                    f"a release of epsilon {epsilon:.4g} would exceed it", field="epsilon")  # fmt: skip
            noisy_cases, noisy_tables, scale = build_private(facts, period=self.period, epsilon=epsilon)
            no_durations = tuple(Duration(step=step, cases=None) for step, _, _ in STEPS)
            event = StatisticsReleased(**common, cases=noisy_cases, tables=noisy_tables, durations=no_durations,
                                       epsilon=epsilon, noise_scale=scale)  # fmt: skip
        else:
            if epsilon is not None:
                raise RuleViolation("only a differentially private release spends an epsilon", field="epsilon")
            cases, protected, durations = build(facts, period=self.period, k=k)
            event = StatisticsReleased(**common, cases=cases, tables=protected, durations=durations)
        self._record(event)
        return event

    def apply(self, event: DomainEvent) -> None:
        match event:
            case StatisticsReleased():
                self.versions = event.version
                self.epsilon_spent += event.epsilon or 0.0
