"""Property: for random case histories with transfers (chains, returns to an earlier centre, hand-overs applied
out of order), at every point exactly one centre may act on the legal file, every former holder is refused
(403) and reads its own period, and a centre that never held the case is told nothing (404)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from harbour.auth import Caller, OrgKind, Role
from harbour.custody import Custody, _periods
from services.legal.access import ACCESS, CaseAccess, Scope, _judge, _Verdict

CENTRES = ("centre-payoke", "centre-pag-asa", "centre-surya")
START = datetime(2026, 1, 5, 9, tzinfo=UTC)


def case_at(rows: list[dict]) -> CaseAccess:
    held = Custody("case-1", _periods(sorted(rows, key=lambda r: r["seq"])))
    return CaseAccess("case-1", held.centre, False, False, date(2026, 1, 5), "prosecution-antwerp", custody=held)


def verdicts(case: CaseAccess, centre: str, role: Role) -> dict[str, set[_Verdict]]:
    caller = Caller(org=centre, role=role, user="u-1")
    return {action.value: {_judge(g, caller, case) for g in grants if OrgKind.CENTRE in g.kinds and role in g.roles}
            for action, grants in ACCESS.items()
            if any(g.scope is Scope.CASE_CENTRE and role in g.roles for g in grants)}  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    admitted=st.sampled_from(CENTRES),
    moves=st.lists(st.sampled_from(CENTRES), max_size=5),
    lags=st.lists(st.integers(min_value=0, max_value=600), min_size=5, max_size=5),
)
def test_at_every_point_exactly_one_centre_acts_and_former_holders_read_their_period(
    admitted: str, moves: list[str], lags: list[int]
) -> None:
    chain = [admitted]
    for to in moves:
        if to != chain[-1]:
            chain.append(to)  # tracks refuses a transfer to the centre that already holds the case
    rows = [{"seq": 0, "centre": admitted, "since_on": date(2026, 1, 5), "applied_at": START}]
    checked = 0
    for n, centre in enumerate(chain[1:], start=1):
        # The version of the acceptance in the track's stream orders the periods, whenever legal applied it.
        rows.append({"seq": 3 * n, "centre": centre, "since_on": date(2026, 1, 5) + timedelta(days=n),
                     "applied_at": START + timedelta(seconds=lags[n - 1])})  # fmt: skip
        case = case_at(rows)
        for action in verdicts(case, CENTRES[0], Role.CASEWORKER):
            acting = [c for c in CENTRES if _Verdict.ADMIT in verdicts(case, c, Role.CASEWORKER)[action]]
            assert acting == [chain[n]], (action, chain[: n + 1])
        for c in CENTRES:
            seen = verdicts(case, c, Role.CASEWORKER)
            if c == chain[n]:
                continue
            if c in chain[:n]:
                assert seen["request-document"] == {_Verdict.FORBID}
                assert seen["read-residence"] == {_Verdict.OWN_PERIOD}
                assert case.custody is not None and case.custody.held_until(c) is not None
            else:
                assert all(v == {_Verdict.HIDE} for v in seen.values())
            checked += 1
    assert checked == sum(len(CENTRES) - 1 for _ in chain[1:])
