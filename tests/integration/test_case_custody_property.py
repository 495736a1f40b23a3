"""Property (issue 13): for random case histories of transfer requests, acceptances, declines and withdrawals
among the three centres, at every point exactly one centre may act on each part of the case (intake, legal,
tracks, housing), and it is the centre tracks says owns the track.

One platform for the module, one fresh case per example. The probes change nothing (see tests/support/
whole_case.py): 422 for the holder, 403/404 for every other centre. Counts are asserted, never timings; a
transfer is waited for (bounded) until every service recorded it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from harbour_tools.infra import BrokerProcess
from tests.support.whole_case import CENTRES, MAY_ACT, MAY_NOT_ACT, PARTS, Whole, whole_platform

EXAMPLES = 6
MAX_STEPS = 4


@pytest.fixture(scope="module")
async def whole(pg_server_url: str, broker: BrokerProcess) -> AsyncIterator[Whole]:
    if not broker.is_running:
        broker.start()
    # Feeds only stores milestones: nothing here reads them.
    async with whole_platform(pg_server_url, broker.bootstrap, without=("feeds",)) as platform:
        yield platform


# A history is drawn as choices, each read against the track's state when it is applied: with no open request,
# the holder asks one of the two other centres (choice % 2); with one open, the receiving centre accepts or
# declines, or the holder withdraws (choice % 3).
histories = st.tuples(st.sampled_from(CENTRES), st.lists(st.integers(0, 5), min_size=1, max_size=MAX_STEPS))


@settings(max_examples=EXAMPLES, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))  # fmt: skip
@example(history=(CENTRES[0], [0, 0, 0, 0]))  # A → B accepted, B → C accepted: a chained transfer
@example(history=(CENTRES[0], [1, 1, 0, 2]))  # declined, then withdrawn
@given(history=histories)
async def test_at_every_point_of_a_random_transfer_history_exactly_one_centre_acts_on_each_part_of_the_case(
    whole: Whole, history: tuple[str, list[int]]
):
    admitting, choices = history
    case = await whole.admit(admitting)
    pending: str | None = None
    steps: list[str] = []
    for choice in choices:
        if pending is None:
            others = [c for c in CENTRES if c != case.holder]
            pending = others[choice % 2]
            response = await whole.request_transfer(case, pending)
            steps.append(f"request {case.holder}->{pending}")
        else:
            answer = ("accept", "decline", "withdraw")[choice % 3]
            steps.append(f"{answer} {case.holder}->{pending}")
            if answer == "withdraw":
                response = await whole.withdraw_transfer(case)
            else:
                response = await whole.answer_transfer(case, pending, answer)
            if answer == "accept":
                case.holder = pending
                case.history.append(pending)
            pending = None
        assert response.status_code == 200, (steps, response.text)
        if steps[-1].startswith("accept"):
            applied = await whole.applied(case, timeout=10)
            assert set(applied.values()) == {case.holder}, (steps, applied)

        # Exactly one centre acts on each part, the one tracks says owns the track.
        acting = await whole.acting(case)
        strange = {p: by for p, by in acting.items() if set(by.values()) - (MAY_ACT | MAY_NOT_ACT)}
        assert not strange, (steps, strange)
        counts = {p: sorted(c for c, s in by.items() if s in MAY_ACT) for p, by in acting.items()}
        assert counts == {part: [case.holder] for part in PARTS}, (steps, acting)
        track = await whole.call("tracks", "GET", f"/tracks/{case.case_id}", case.holder, "caseworker")
        assert track.status_code == 200 and track.json()["owning_centre"] == case.holder, (steps, track.text)
        # A centre that never held the case learns nothing of it anywhere; a former holder knows it (403).
        for centre in CENTRES:
            if centre == case.holder:
                continue
            expected = 403 if centre in case.history else 404
            statuses = {p: acting[p][centre] for p in PARTS if p != "tracks"}
            assert statuses == dict.fromkeys(statuses, expected), (steps, centre, acting)
    assert whole.server_errors() == [], whole.server_errors()
