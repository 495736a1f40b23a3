"""Disclosure control by cell suppression for a two-way table published with its margins.

Pure: no I/O. Primary suppression hides every count below k, zero included (margins too: a row of 4 cases is as
telling as a cell of 4; and a zero that turns into a suppressed cell in the next release would name the one
person who arrived in it). That alone is not enough: a row total minus the published cells of its row gives
back the one suppressed cell of that row. Complementary suppression hides further cells until every suppressed
cell keeps a wide enough interval among all the tables' values the published ones allow: for each suppressed
cell, linear programming (``scipy.optimize.linprog``) finds the smallest and largest value it could take with
every published cell and margin fixed and every count non-negative; a primary cell must be able to reach k
(nobody can show it is below k) and no suppressed cell may be pinned to one value. While a cell fails, the
smallest published cell on its row or column that can absorb the difference is suppressed too, and the table is
audited again. Zeros are published: a zero is no person.

A release's tables share margins (the forms' totals are in four of them, the sexes' in three, the count of cases
in all): ``hide`` suppresses a margin from the start because another table suppressed the same figure, and
``keep`` keeps a figure the release publishes anyway (the count of cases) out of the complementary cells.
``domain.tables`` iterates over the tables until no shared margin is published in one and suppressed in another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

PRIMARY = "primary"
COMPLEMENTARY = "complementary"


@dataclass(frozen=True)
class Protected:
    """The table with its margins (last row and column: totals), and why each suppressed cell is suppressed."""

    values: np.ndarray  # (rows + 1) x (columns + 1), totals last
    reasons: dict[tuple[int, int], str]

    def published(self, r: int, c: int) -> int | None:
        return None if (r, c) in self.reasons else int(self.values[r, c])


def with_margins(counts: np.ndarray) -> np.ndarray:
    rows, columns = counts.shape
    full = np.zeros((rows + 1, columns + 1), dtype=np.int64)
    full[:rows, :columns] = counts
    full[:rows, columns] = counts.sum(axis=1)
    full[rows, :columns] = counts.sum(axis=0)
    full[rows, columns] = counts.sum()
    return full


def _lines(shape: tuple[int, int]) -> list[list[tuple[tuple[int, int], int]]]:
    """The additive relations of a table with margins: per line, (cell, +1) for the parts and (total, -1)."""
    height, width = shape
    lines = [[((r, c), 1) for c in range(width - 1)] + [((r, width - 1), -1)] for r in range(height)]
    lines += [[((r, c), 1) for r in range(height - 1)] + [((height - 1, c), -1)] for c in range(width)]
    return lines


def _system(values: np.ndarray, cells: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """The equations the published cells and margins put on the suppressed ``cells`` (A x = b, one per line)."""
    index = {cell: i for i, cell in enumerate(cells)}
    rows, rhs = [], []
    for line in _lines(values.shape):
        row = np.zeros(len(cells))
        known = 0.0
        for cell, sign in line:
            if cell in index:
                row[index[cell]] += sign
            else:
                known += sign * float(values[cell])
        if row.any():
            rows.append(row)
            rhs.append(-known)
    return np.array(rows), np.array(rhs)


def _bound(a_eq: np.ndarray, b_eq: np.ndarray, i: int, sign: float) -> Any:
    """The linear program for the smallest (sign 1) or largest (sign -1) value of cell ``i``; scipy's result."""
    # Imported here, not with the module: scipy.optimize costs about a second of CPU to import, and every process
    # that imports the service registry (each service process, each CLI command, each test worker) paid it though
    # only a release that suppresses cells runs this.
    from scipy.optimize import linprog

    objective = np.zeros(a_eq.shape[1])
    objective[i] = sign
    return linprog(objective, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")


def _upper(highest: Any) -> float:
    return float("inf") if highest.status == 3 else -float(highest.fun)  # status 3: unbounded


def intervals(values: np.ndarray, suppressed: set[tuple[int, int]]) -> dict[tuple[int, int], tuple[float, float]]:
    """For each suppressed cell, the smallest and largest value the published cells and margins allow
    (``inf``: no upper bound). The audit's definition; ``_failing`` decides the same without solving for every
    cell (tests/unit/test_statistics_releases.py compares the two)."""
    cells = sorted(suppressed)
    if not cells:
        return {}
    a_eq, b_eq = _system(values, cells)
    found = {}
    for i, cell in enumerate(cells):
        found[cell] = (float(_bound(a_eq, b_eq, i, 1.0).fun), _upper(_bound(a_eq, b_eq, i, -1.0)))
    return found


def _fails(reason: str, low: float, high: float, k: int) -> bool:
    return high - low < 0.5 or (reason == PRIMARY and high < k - 1e-6)


# Beyond the audit's own tolerances: a cell is let through on the tables seen only when no rounding of a solver's
# answer could have made it fail.
_MARGIN = 1e-4


def _failing(values: np.ndarray, reasons: dict[tuple[int, int], str], k: int,
             passed: frozenset[tuple[int, int]] = frozenset()) -> list[tuple[int, int]]:  # fmt: skip
    """The suppressed cells whose interval (see ``intervals``) is too narrow, or, for a primary cell, stays below k;
    the cells ``passed`` are not looked at (they passed with fewer cells suppressed, see ``protect``).

    Every solution a linear program returns is a whole table the published figures allow, as is the true one;
    the smallest and largest value a cell takes among those tables lie inside its interval. A cell those tables
    already show wide enough needs no program of its own: two programs per suppressed cell were about 70 % of the
    statistics tests' CPU; a release of the tests' 2,000 cases solved 862 programs, now 374 (with protect's rounds)."""
    cells = sorted(reasons)
    if not cells:
        return []
    a_eq, b_eq = _system(values, cells)
    seen_low = np.array([float(values[cell]) for cell in cells])
    seen_high = seen_low.copy()

    def seen(result: Any) -> None:
        if result.status == 0:
            np.minimum(seen_low, result.x, out=seen_low)
            np.maximum(seen_high, result.x, out=seen_high)

    failing = []
    for i, cell in enumerate(cells):
        if cell in passed or not _fails(reasons[cell], seen_low[i] + _MARGIN, seen_high[i] - _MARGIN, k):
            continue
        lowest = _bound(a_eq, b_eq, i, 1.0)
        seen(lowest)
        low = float(lowest.fun)
        if not _fails(reasons[cell], low, seen_high[i] - _MARGIN, k):
            continue
        highest = _bound(a_eq, b_eq, i, -1.0)
        seen(highest)
        if _fails(reasons[cell], low, _upper(highest), k):
            failing.append(cell)
    return failing


def _choose(
    values: np.ndarray,
    reasons: dict[tuple[int, int], str],
    candidates: list[tuple[int, int]],
    need: int,
    keep: frozenset[tuple[int, int]] = frozenset(),
) -> tuple[int, int] | None:
    open_ = [x for x in candidates if x not in reasons and x not in keep]
    if not open_:
        return None
    # The smallest cell that can absorb the difference loses the least; else the largest there is.
    enough = [x for x in open_ if values[x] >= need]
    return min(enough, key=lambda x: (values[x], x)) if enough else max(open_, key=lambda x: (values[x], x))


def _complement(values: np.ndarray, reasons: dict[tuple[int, int], str], cell: tuple[int, int], k: int,
                keep: frozenset[tuple[int, int]]) -> bool:  # fmt: skip
    """Suppress one more published cell on ``cell``'s row or column; False when there is none left."""
    r, c = cell
    candidates = [(r, j) for j in range(values.shape[1]) if j != c] + [(i, c) for i in range(values.shape[0]) if i != r]
    need = max(1, k - int(values[cell]))
    # When its own lines are all suppressed, the cell is pinned through others: widen the pattern anywhere.
    everywhere = [(int(i), int(j)) for i, j in zip(*np.nonzero(values >= 0), strict=True)]
    chosen = _choose(values, reasons, candidates, need, keep) or _choose(values, reasons, everywhere, need, keep)
    if chosen is None:
        return False
    reasons[chosen] = COMPLEMENTARY
    return True


def _no_line_with_one(values: np.ndarray, reasons: dict[tuple[int, int], str], k: int,
                      keep: frozenset[tuple[int, int]]) -> None:  # fmt: skip
    """The cheap first pass: a line with one suppressed cell gives it back by subtraction, so no line keeps one."""
    changed = True
    while changed:
        changed = False
        for line in _lines(values.shape):
            cells = [cell for cell, _ in line]
            hidden = [cell for cell in cells if cell in reasons]
            if len(hidden) == 1:
                chosen = _choose(values, reasons, [x for x in cells if x != hidden[0]],
                                 max(1, k - int(values[hidden[0]])), keep)  # fmt: skip
                if chosen is not None:
                    reasons[chosen] = COMPLEMENTARY
                    changed = True


def protect(counts: np.ndarray, k: int, *, complementary: bool = True,
            hide: frozenset[tuple[int, int]] = frozenset(),
            keep: frozenset[tuple[int, int]] = frozenset()) -> Protected:  # fmt: skip
    """The table with its margins, suppressed. ``hide``: cells (margins) suppressed from the start, because another
    table of the release suppresses the same figure; they are protected like any other suppressed cell, so this
    table does not give them back. ``keep``: cells never chosen for complementary suppression, because the
    release publishes their figure anyway (the count of cases, every table's grand total); a primary cell is
    suppressed all the same."""
    values = with_margins(np.asarray(counts, dtype=np.int64))
    reasons = {(int(r), int(c)): PRIMARY for r, c in zip(*np.nonzero(values < k), strict=True)}
    if complementary:
        for cell in hide:
            reasons.setdefault(cell, COMPLEMENTARY)
    if complementary and reasons:
        _no_line_with_one(values, reasons, k, keep)
    # A cell that passed keeps passing: suppressing one more cell only frees a fixed figure, so every table allowed
    # before is allowed still and a cell's interval can only widen. Each round audits what failed and what is new.
    passed: frozenset[tuple[int, int]] = frozenset()
    while complementary and reasons:
        failing = _failing(values, reasons, k, passed)
        if not failing:
            break
        passed = frozenset(reasons) - set(failing)
        added = [_complement(values, reasons, cell, k, keep) for cell in failing]
        if not any(added):
            # Every line of the failing cells is suppressed already: the whole table is, then (but what is kept).
            for r, c in zip(*np.nonzero(values >= 0), strict=True):
                if (int(r), int(c)) not in keep:
                    reasons.setdefault((int(r), int(c)), COMPLEMENTARY)
            break
    return Protected(values, reasons)


# -- differential privacy (OpenDP) -------------------------------------------------------------------------------


def _vector_space() -> tuple[Any, Any]:
    import opendp.prelude as dp

    # OpenDP's discrete Laplace on integer vectors is in its "contrib" set (implemented, not yet formally vetted).
    dp.enable_features("contrib")
    return dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int)


def laplace(scale: float) -> Any:
    """OpenDP's discrete Laplace measurement of ``scale`` on a vector of counts (adding or removing one case
    changes one cell by one: L1 distance 1)."""
    import opendp.prelude as dp

    return dp.m.make_laplace(*_vector_space(), scale=scale)


def laplace_scale(epsilon: float) -> float:
    """The smallest noise scale whose privacy loss for one case (d_in = 1) is at most ``epsilon``, found by
    OpenDP's own map, not by a formula written here."""
    import opendp.prelude as dp

    space = _vector_space()
    return float(dp.binary_search_param(lambda s: dp.m.make_laplace(*space, scale=s), d_in=1, d_out=epsilon))


def epsilon_of(scale: float) -> float:
    """What one table's noise of ``scale`` spends for one case, as OpenDP accounts it."""
    return float(laplace(scale).map(1))
