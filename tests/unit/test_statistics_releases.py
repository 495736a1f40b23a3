"""Releases of the statistics service over a seeded population of 2,000 cases, folded in-process: the figures
agree with a direct count, every suppressed cell survives a linear-programming audit (and would not without
complementary suppression), and one added person with a rare combination changes no published figure of theirs.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from functools import reduce

import numpy as np
import pytest
from scipy.optimize import linprog

from schemas import intake
from schemas.statistics import Table
from services.statistics import disclosure, domain
from services.statistics.facts import Fact, fact_key, fold
from tests.support.statistics_population import case_opened, population

K = 11


def facts_of(people) -> list[Fact]:
    return [reduce(fold, p.events, Fact()) for p in people]


@pytest.fixture(scope="module")
def people():
    return population(2000, seed=16)


@pytest.fixture(scope="module")
def release(people):
    return domain.build(facts_of(people), period=2026, k=K)


def audit(table: Table, k: int) -> list[str]:
    """What an attacker holding the published table can pin: for each suppressed cell, its feasible interval
    with every published cell and margin fixed and every count >= 0 (written here, apart from the service's)."""
    rows, columns = (*table.rows, "total"), (*table.columns, "total")
    value = {(c.row, c.column): c for c in table.cells}
    hidden = [key for key, c in value.items() if c.count is None]
    index = {key: i for i, key in enumerate(hidden)}
    lines = [[(r, col) for col in columns] for r in rows] + [[(r, col) for r in rows] for col in columns]
    a_eq, b_eq = [], []
    for line in lines:
        coefficients, known = np.zeros(len(hidden)), 0.0
        for position, key in enumerate(line):
            sign = -1 if position == len(line) - 1 else 1  # the last of a line is its total
            if key in index:
                coefficients[index[key]] += sign
            else:
                known += sign * value[key].count
        if coefficients.any():
            a_eq.append(coefficients)
            b_eq.append(-known)
    pinned = []
    for key, i in index.items():
        objective = np.eye(len(hidden))[i]
        low = linprog(objective, A_eq=a_eq, b_eq=b_eq, bounds=(0, None)).fun
        high = linprog(-objective, A_eq=a_eq, b_eq=b_eq, bounds=(0, None))
        upper = np.inf if high.status == 3 else -high.fun
        if upper < k - 1e-6 or upper - low < 0.5:
            pinned.append(f"{table.name} {key}: [{low:g}, {upper:g}]")
    return pinned


def test_every_published_count_is_at_least_k_and_every_suppressed_cell_survives_the_audit(release):
    _cases, tables, _durations = release
    for table in tables:
        assert all(c.count is None or c.count >= K for c in table.cells)
        assert audit(table, K) == []
    assert sum(c.count is not None for t in tables for c in t.cells) > 40  # the audit looked at real figures


def test_without_complementary_suppression_the_audit_pins_suppressed_cells(people):
    counted = domain.in_period(facts_of(people), 2026)
    pinned = [p for name, title, rows, columns in domain.STANDARD_TABLES
              for p in audit(domain.table(name, title, rows, columns, counted, K, complementary=False), K)]  # fmt: skip
    assert pinned, "primary suppression alone left nothing to recompute: the audit would prove nothing"


def test_the_figures_agree_with_a_direct_count_of_the_population(people, release):
    cases, tables, durations = release
    truths = [p.truth for p in people if p.truth["year"] == 2026]
    assert cases == len(truths) == 2000
    by_name = {t.name: t for t in tables}
    direct = Counter((t["form"], t["age group"]) for t in truths)
    for cell in by_name["form-by-age-group"].cells:
        if cell.count is not None and "total" not in (cell.row, cell.column):
            assert cell.count == direct[(cell.row, cell.column)]
    stages = Counter((t["stage"], t["citizenship"]) for t in truths)
    for cell in by_name["stage-by-citizenship"].cells:
        if cell.count is not None and cell.row != "total" and cell.column != "total":
            assert cell.count == stages[(cell.row, cell.column)]
    centres = Counter(t["centre"] for t in truths)
    for cell in by_name["referrer-by-centre"].cells:
        if cell.count is not None and cell.row == "total" and cell.column != "total":
            assert cell.count == centres[cell.column]
    verdicts = Counter((t["verdict"] or "none", "civil-party" if t["civil"] else "not-civil-party") for t in truths)
    for cell in by_name["verdict-by-civil-party"].cells:
        if cell.count is not None and "total" not in (cell.row, cell.column):
            assert cell.count == verdicts[(cell.row, cell.column)]
    days = [(t["days"]["annex-15"] - t["days"]["opened"]).days for t in truths if "annex-15" in t["days"]]
    (annex,) = [d for d in durations if d.step == "admission-to-annex-15"]
    assert annex.cases == len(days) and annex.median_days == round(float(np.median(days)))


def test_one_added_person_with_a_rare_combination_changes_no_published_figure_of_their_rows(people):
    before = facts_of(people)
    rare = case_opened("case-rare", on=date(2026, 5, 5), minor=True, eu=True, forms=("organ-removal",))
    assert sum(f.form == "organ-removal" for f in before) < K - 1  # a rare form: the person stands out in it
    _, first, _ = domain.build(before, period=2026, k=K)
    _, second, _ = domain.build([*before, fold(Fact(), rare)], period=2026, k=K)
    for old, new in zip(first, second, strict=True):
        if old.row_dimension != "form":
            continue
        for a, b in zip(old.cells, new.cells, strict=True):
            if a.row == "organ-removal":  # nothing published says anyone is, or is not, in the person's row
                assert a.count is None and b.count is None, (old.name, a, b)


def test_a_fact_holds_no_id_and_its_key_is_a_keyed_hash_of_the_case_id(people):
    person = people[0]
    fact = reduce(fold, person.events, Fact())
    text = json.dumps(fact.to_json())
    assert person.case_id not in text and "person-" not in text and "ref-" not in text
    assert Fact.from_json(json.loads(text)) == fact
    assert fact_key(b"k" * 32, person.case_id) != fact_key(b"j" * 32, person.case_id)


def test_an_erasure_changes_no_fact():
    fact = fold(Fact(), case_opened("case-1", on=date(2026, 2, 2)))
    erased = intake.PersonErased(person_id="person-case-1", reason=intake.ErasureReason.PERSON_REQUEST,
                                 erased_on=date(2026, 3, 3))  # fmt: skip
    assert fold(fact, erased) == fact


def test_a_release_below_the_default_threshold_is_refused():
    series = domain.ReleaseSeries("2026")
    with pytest.raises(Exception, match="below 11"):
        series.release(mode=domain.DisclosureMode.SUPPRESSION, k=5, public=False, facts_as_of=0, facts=[],
                       on=date(2026, 12, 1))  # fmt: skip


# -- differential privacy ----------------------------------------------------------------------------------------

DP = domain.DisclosureMode.DIFFERENTIAL_PRIVACY
ON = date(2026, 12, 1)


def dp_release(series, facts, epsilon, budget=1.0):
    return series.release(mode=DP, k=K, public=False, facts_as_of=0, facts=facts, on=ON, epsilon=epsilon,
                          budget=budget)  # fmt: skip


def test_a_private_release_noises_every_cell_with_the_scale_opendp_calibrates_to_its_epsilon(people):
    facts = facts_of(people)
    released = dp_release(domain.ReleaseSeries("2026"), facts, epsilon=0.8)
    per_table = 0.8 / len(domain.STANDARD_TABLES)
    # OpenDP's own accounting of the noise used: each table spends its share, the release the sum.
    assert disclosure.epsilon_of(released.noise_scale) <= per_table + 1e-9
    assert released.epsilon == 0.8 and released.mode is DP
    exact = domain.build(facts, period=2026, k=K)[1]
    moved = 0
    for noisy, true in zip(released.tables, exact, strict=True):
        truth = {(c.row, c.column): c for c in true.cells}
        for cell in noisy.cells:
            assert cell.count is not None and cell.count >= 0 and cell.suppressed is None
            moved += cell.count != truth[(cell.row, cell.column)].count
        # Margins are the sums of the noisy cells: a reader's own sums agree with them.
        inner = {(c.row, c.column): c.count for c in noisy.cells if domain.TOTAL not in (c.row, c.column)}
        for row in noisy.rows:
            total = next(c.count for c in noisy.cells if c.row == row and c.column == domain.TOTAL)
            assert total == sum(v for (r, _), v in inner.items() if r == row)
    assert moved > 0  # noise was added (at this scale, all but a few cells move)
    assert all(d.cases is None for d in released.durations)  # no durations in this mode


def test_the_periods_budget_holds_across_releases_and_a_release_past_it_is_refused_and_records_nothing(people):
    facts = facts_of(people)
    series = domain.ReleaseSeries("2026")
    for _ in range(2):
        dp_release(series, facts, epsilon=0.4)  # recorded: the series applies its own event
    assert series.epsilon_spent == pytest.approx(0.8)
    with pytest.raises(Exception, match=r"0\.2 of 1 left") as refused:
        dp_release(series, facts, epsilon=0.3)
    assert refused.value.field == "epsilon"
    assert series.versions == 2
    dp_release(series, facts, epsilon=0.2)  # exactly what is left
    with pytest.raises(Exception, match="would exceed"):
        dp_release(series, facts, epsilon=0.01)
    # Suppression releases spend nothing: the series still takes them.
    series.release(mode=domain.DisclosureMode.SUPPRESSION, k=K, public=False, facts_as_of=0, facts=facts, on=ON)
    assert series.versions == 4 and series.epsilon_spent == pytest.approx(1.0)


def test_a_private_release_states_its_epsilon_and_a_suppressed_one_spends_none():
    series = domain.ReleaseSeries("2026")
    with pytest.raises(Exception, match="states the epsilon") as missing:
        dp_release(series, [], epsilon=None)
    assert missing.value.field == "epsilon"
    with pytest.raises(Exception, match="only a differentially private"):
        series.release(mode=domain.DisclosureMode.SUPPRESSION, k=K, public=False, facts_as_of=0, facts=[], on=ON,
                       epsilon=0.1)  # fmt: skip
