"""Releases of the statistics service over a seeded population of 2,000 cases, folded in-process: the figures
agree with a direct count, every suppressed cell survives a linear-programming audit (and would not without
complementary suppression), and one added person with a rare combination changes no published figure of theirs.
How the fact folds the person's profile (intake's CaseProfiled) against the other events, at the end.
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
from tests.support.statistics_population import case_opened, case_profiled, population

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
    return _pinned(index, a_eq, b_eq, k, must_reach_k=lambda key: True, name=lambda key: f"{table.name} {key}")


def _pinned(index: dict, a_eq: list, b_eq: list, k: int, *, must_reach_k, name=str) -> list[str]:
    """The hidden cells the equations pin: narrower than one value apart, or (``must_reach_k``) unable to reach k."""
    pinned = []
    for key, i in index.items():
        objective = np.eye(len(index))[i]
        low = linprog(objective, A_eq=a_eq, b_eq=b_eq, bounds=(0, None)).fun
        high = linprog(-objective, A_eq=a_eq, b_eq=b_eq, bounds=(0, None))
        upper = np.inf if high.status == 3 else -high.fun
        if (must_reach_k(key) and upper < k - 1e-6) or upper - low < 0.5:
            pinned.append(f"{name(key)}: [{low:g}, {upper:g}]")
    return pinned


def test_every_published_count_is_at_least_k_and_every_suppressed_cell_survives_the_audit(release):
    _cases, tables, _durations = release
    for table in tables:
        assert all(c.count is None or c.count >= K for c in table.cells)
        assert audit(table, K) == []
    assert sum(c.count is not None for t in tables for c in t.cells) > 40  # the audit looked at real figures


def test_without_complementary_suppression_the_audit_pins_suppressed_cells(people):
    counted = domain.in_period(facts_of(people), 2026)
    pinned = {name: audit(domain.table(name, title, rows, columns, counted, K, complementary=False), K)
              for name, title, rows, columns in domain.STANDARD_TABLES}  # fmt: skip
    assert any(pinned.values()), "primary suppression alone left nothing to recompute: the audit would prove nothing"
    # The tables of the person's profile too: each of them, unprotected, gives suppressed cells away.
    for name in ("form-by-sex", "age-band-by-sex", "region-by-sex"):
        assert pinned[name], name


def shared_key(table: Table, row: str, column: str) -> tuple[str, ...]:
    """What a cell counts across the release: an inner cell is its table's own; a margin is the total of one
    value of one dimension (the same figure in every table with that dimension); the grand total is the count."""
    if "total" not in (row, column):
        return ("cell", table.name, row, column)
    if row != "total":
        return ("margin", table.row_dimension, row)
    return ("margin", table.column_dimension, column) if column != "total" else ("cases",)


def joint_audit(tables: tuple[Table, ...], k: int, cases: int | None) -> list[str]:
    """The audit over all the tables of a release at once, as an attacker holding all of them has it: a margin
    shared by tables is one unknown (or known, where any table publishes it), the count of cases is known."""
    known: dict[tuple[str, ...], int] = {("cases",): cases} if cases is not None else {}
    primary: set[tuple[str, ...]] = set()
    for table in tables:
        for cell in table.cells:
            key = shared_key(table, cell.row, cell.column)
            if cell.count is not None:
                known[key] = cell.count
            elif cell.suppressed == "primary":
                primary.add(key)
    hidden = sorted({shared_key(t, c.row, c.column) for t in tables for c in t.cells} - set(known))
    index = {key: i for i, key in enumerate(hidden)}
    a_eq, b_eq = [], []
    for table in tables:
        rows, columns = (*table.rows, "total"), (*table.columns, "total")
        for line in [[(r, col) for col in columns] for r in rows] + [[(r, col) for r in rows] for col in columns]:
            coefficients, constant = np.zeros(len(hidden)), 0.0
            for position, (r, col) in enumerate(line):
                sign = -1 if position == len(line) - 1 else 1  # the last of a line is its total
                key = shared_key(table, r, col)
                if key in index:
                    coefficients[index[key]] += sign
                else:
                    constant += sign * known[key]
            if coefficients.any():
                a_eq.append(coefficients)
                b_eq.append(-constant)
    return _pinned(index, a_eq, b_eq, k, must_reach_k=lambda key: key in primary)


def test_no_margin_shared_by_two_tables_is_published_in_one_and_suppressed_in_another(release):
    _cases, tables, _durations = release
    published: dict[tuple[str, ...], set[bool]] = {}
    for table in tables:
        for cell in table.cells:
            if (key := shared_key(table, cell.row, cell.column))[0] != "cell":
                published.setdefault(key, set()).add(cell.count is not None)
    assert [key for key, seen in published.items() if len(seen) > 1] == []
    shared = [key for key in published if sum(key in {shared_key(t, c.row, c.column) for c in t.cells}
                                              for t in tables) > 1]  # fmt: skip
    assert len(shared) > 20 and any(published[key] == {False} for key in shared)  # real shared margins, some hidden


def test_tables_protected_one_by_one_would_publish_a_margin_that_another_table_suppresses(people):
    counted = domain.in_period(facts_of(people), 2026)
    alone = [domain.table(name, title, rows, columns, counted, K) for name, title, rows, columns in
             domain.STANDARD_TABLES]  # fmt: skip
    published: dict[tuple[str, ...], set[bool]] = {}
    for table in alone:
        for cell in table.cells:
            if (key := shared_key(table, cell.row, cell.column))[0] != "cell":
                published.setdefault(key, set()).add(cell.count is not None)
    assert [key for key, seen in published.items() if len(seen) > 1], "the release's consistency would prove nothing"


def test_the_audit_of_all_tables_together_pins_no_suppressed_cell_and_would_without_complementary_suppression(
    people, release
):
    cases, tables, _durations = release
    assert joint_audit(tables, K, cases) == []
    counted = domain.in_period(facts_of(people), 2026)
    assert joint_audit(domain.tables(counted, K, complementary=False), K, len(counted))


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
    # The profile's tables, every published cell and margin (sex: "other" counted with "unknown").
    sex = {"female": "female", "male": "male", "other": "other-or-unknown", "unknown": "other-or-unknown"}
    for name, row_of in (("form-by-sex", "form"), ("age-band-by-sex", "age band"), ("region-by-sex", "region")):
        direct = Counter((t[row_of], sex[t["sex"]]) for t in truths)
        published = [c for c in by_name[name].cells if c.count is not None]
        assert len(published) > 10, name  # real figures were compared
        for cell in published:
            inside = [n for (r, c), n in direct.items() if cell.row in (r, "total") and cell.column in (c, "total")]
            expected = sum(inside)
            assert cell.count == expected, (name, cell)
    days = [(t["days"]["annex-15"] - t["days"]["opened"]).days for t in truths if "annex-15" in t["days"]]
    (annex,) = [d for d in durations if d.step == "admission-to-annex-15"]
    assert annex.cases == len(days) and annex.median_days == round(float(np.median(days)))


def test_one_added_person_with_a_rare_combination_changes_no_published_figure_of_their_rows(people):
    before = facts_of(people)
    # A boy under 12 from Oceania (Fiji), a victim of organ removal: rare in every one of those.
    opened = case_opened("case-rare", on=date(2026, 5, 5), minor=True, eu=False, forms=("organ-removal",))
    profiled = case_profiled("case-rare", referral="ref-case-rare", on=date(2026, 5, 5), sex=intake.Sex.MALE,
                             born=date(2017, 8, 1), nationality="FJ", identified=date(2026, 5, 1))  # fmt: skip
    rare = reduce(fold, [opened, profiled], Fact())
    assert (rare.sex, rare.age_band, rare.world_region) == ("male", "0-11", "oceania")
    assert sum(f.form == "organ-removal" for f in before) < K - 1  # a rare form: the person stands out in it
    assert sum(f.world_region == "oceania" for f in before) < K - 1  # and a rare region
    _, first, _ = domain.build(before, period=2026, k=K)
    _, second, _ = domain.build([*before, rare], period=2026, k=K)
    rare_rows = {"form": "organ-removal", "world region": "oceania"}
    looked = set()
    for old, new in zip(first, second, strict=True):
        if old.row_dimension not in rare_rows:
            continue
        for a, b in zip(old.cells, new.cells, strict=True):
            if a.row == rare_rows[old.row_dimension]:  # nothing published says anyone is, or is not, in the row
                assert a.count is None and b.count is None, (old.name, a, b)
                looked.add(old.name)
    assert {"form-by-sex", "region-by-sex"} <= looked
    # Their cell of the age band table (boys under 12) is a cell of many: published, it moves by the one person the
    # attacker already knows of, and tells nothing of their form or region.
    for old, new in zip(first, second, strict=True):
        for a, b in zip(old.cells, new.cells, strict=True):
            if a.count is not None and b.count is not None:
                assert abs(a.count - b.count) <= 1 and min(a.count, b.count) >= K, (old.name, a, b)


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
    # Every standard table, the profile's too, is noised and shares the epsilon.
    assert [t.name for t in released.tables] == [name for name, *_ in domain.STANDARD_TABLES]
    assert {"form-by-sex", "age-band-by-sex", "region-by-sex"} <= {t.name for t in released.tables}
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


# -- the person's profile in the fact -----------------------------------------------------------------------------

OPENED = date(2026, 3, 2)


def profiled(case_id: str | None = "case-1", *, sex=intake.Sex.FEMALE, born: date | None = date(1999, 3, 14),
             nationality: str | None = "NG") -> intake.CaseProfiled:  # fmt: skip
    return case_profiled(case_id, referral="ref-case-1", on=OPENED, sex=sex, born=born, nationality=nationality,
                         identified=date(2026, 2, 27))  # fmt: skip


def test_a_case_profiled_under_the_case_gives_the_fact_its_sex_age_band_citizenship_and_world_region():
    fact = reduce(fold, [case_opened("case-1", on=OPENED, eu=True), profiled()], Fact())
    assert (fact.sex, fact.age_band, fact.citizenship, fact.world_region) == ("female", "25-34", "non-eu", "africa")


def test_a_profile_folded_before_its_case_opened_lands_on_the_same_fact_and_neither_overwrites_the_other():
    opened = case_opened("case-1", on=OPENED, forms=("sexual-exploitation",))
    first, second = reduce(fold, [profiled(), opened], Fact()), reduce(fold, [opened, profiled()], Fact())
    assert first == second and first.counted and first.form == "sexual-exploitation" and first.sex == "female"


def test_a_referrals_profile_without_a_case_id_counts_nothing():
    opened = fold(Fact(), case_opened("case-1", on=OPENED))
    assert fold(opened, profiled(None, nationality="FJ")) == opened
    assert fold(Fact(), profiled(None)) == Fact()


def test_the_last_profile_folded_is_the_cases():
    fact = reduce(fold, [case_opened("case-1", on=OPENED), profiled(sex=intake.Sex.UNKNOWN),
                         profiled(sex=intake.Sex.MALE, nationality="RO")], Fact())  # fmt: skip
    assert (fact.sex, fact.citizenship, fact.world_region) == ("male", "eu", "europe")


def test_the_guardianship_decision_decides_minor_or_adult_over_case_opened_in_either_order():
    basis = intake.MinorFlagReason.AGE_ASSESSMENT
    established = intake.MinorityEstablished(case_id="case-1", kind=intake.MinorKind.ACCOMPANIED, basis=basis,
                                             established_on=OPENED)  # fmt: skip
    disproved = intake.MinorityDisproved(case_id="case-1", basis=basis, disproved_on=OPENED)
    as_adult, as_minor = case_opened("case-1", on=OPENED), case_opened("case-1", on=OPENED, minor=True)
    assert reduce(fold, [as_adult, established], Fact()).age_group == "minor"
    assert reduce(fold, [established, as_adult], Fact()).age_group == "minor"
    assert reduce(fold, [as_minor, disproved], Fact()).age_group == "adult"
    assert reduce(fold, [disproved, as_minor], Fact()).age_group == "adult"
    assert reduce(fold, [as_minor, disproved, established], Fact()).age_group == "minor"  # the last decision


def test_an_age_band_that_contradicts_the_minor_or_adult_decision_reads_unknown():
    adult_by_birth = profiled(born=date(1999, 3, 14))  # 26 on the day of identification
    minor_by_birth = profiled(born=date(2014, 1, 1))  # 12
    disproved = intake.MinorityDisproved(case_id="case-1", basis=intake.MinorFlagReason.AGE_ASSESSMENT,
                                         disproved_on=OPENED)  # fmt: skip
    as_minor = case_opened("case-1", on=OPENED, minor=True)
    assert reduce(fold, [as_minor, adult_by_birth], Fact()).age_band == "unknown"
    assert reduce(fold, [as_minor, minor_by_birth], Fact()).age_band == "12-17"
    # The age assessment said adult: the document's 12 is not counted as 12-17 beside an adult.
    decided = reduce(fold, [as_minor, minor_by_birth, disproved], Fact())
    assert (decided.age_group, decided.age_band) == ("adult", "unknown")
    assert reduce(fold, [case_opened("case-1", on=OPENED), adult_by_birth], Fact()).age_band == "25-34"


def test_citizenship_is_the_profiles_group_when_known_and_else_what_case_opened_stated():
    stated_eu = case_opened("case-1", on=OPENED, eu=True)
    assert reduce(fold, [stated_eu, profiled(nationality="MA")], Fact()).citizenship == "non-eu"
    assert reduce(fold, [stated_eu, profiled(nationality=None)], Fact()).citizenship == "eu"
    assert fold(Fact(), stated_eu).citizenship == "eu" and fold(Fact(), stated_eu).world_region == "unknown"


def test_a_fact_stored_before_the_profile_was_counted_reads_as_what_case_opened_said():
    stored = fold(Fact(), case_opened("case-1", on=OPENED, minor=True)).to_json()
    for name in ("opened_minor", "minority", "eu_citizen", "sex", "profiled_age_band", "profiled_citizenship",
                 "world_region"):  # fmt: skip
        del stored[name]
    old = Fact.from_json({**stored, "age_group": "minor", "citizenship": "eu"})
    assert (old.age_group, old.citizenship, old.sex, old.age_band) == ("minor", "eu", "unknown", "unknown")


def failing_by_every_interval(values, reasons, k, passed=frozenset()) -> list:
    """The audit's verdict from every suppressed cell's whole interval (disclosure.intervals), nothing skipped."""
    return [cell for cell, (low, high) in disclosure.intervals(values, set(reasons)).items()
            if disclosure._fails(reasons[cell], low, high, k)]  # fmt: skip


def test_the_audit_that_skips_cells_the_tables_seen_show_wide_enough_fails_exactly_the_cells_the_full_one_fails():
    # disclosure._failing solves a cell's programs only when the tables found so far do not already show it wide
    # enough; on random tables, with random complementary cells beside the primary ones, it must fail exactly the
    # cells that every cell's smallest and largest value (disclosure.intervals) fail.
    failed = passed = 0
    for seed in range(25):
        rng = np.random.default_rng(seed)
        counts = rng.integers(0, 25, size=(int(rng.integers(2, 6)), int(rng.integers(2, 6))))
        values = disclosure.with_margins(counts)
        reasons = {(int(r), int(c)): disclosure.PRIMARY for r, c in zip(*np.nonzero(values < K), strict=True)}
        for r, c in zip(*np.nonzero(rng.random(values.shape) < 0.3), strict=True):
            reasons.setdefault((int(r), int(c)), disclosure.COMPLEMENTARY)
        exact = failing_by_every_interval(values, reasons, K)
        assert disclosure._failing(values, reasons, K) == exact, seed
        failed += len(exact)
        passed += len(reasons) - len(exact)
    assert failed > 20 and passed > 20, (failed, passed)  # both verdicts were tried, many times


def test_protecting_a_table_suppresses_the_same_cells_as_with_every_interval_solved_in_every_round(monkeypatch):
    # protect audits again only what failed and what is new (a suppression only widens intervals) and
    # disclosure._failing skips cells the tables seen show wide enough; neither may change a suppression pattern.
    tables = [np.random.default_rng(seed).integers(0, 30, size=(3 + seed % 3, 4 + seed % 2)) for seed in range(12)]
    fast = [disclosure.protect(counts, K).reasons for counts in tables]
    monkeypatch.setattr(disclosure, "_failing", failing_by_every_interval)
    assert fast == [disclosure.protect(counts, K).reasons for counts in tables]
    assert sum(reason == disclosure.COMPLEMENTARY for r in fast for reason in r.values()) > 10  # rounds were needed
