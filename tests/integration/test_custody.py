"""harbour.custody against the real PostgreSQL: one holder at every point, whatever order hand-overs arrive in."""

from __future__ import annotations

import uuid
from datetime import date

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harbour import custody
from harbour.custody import Relation

A, B, C = "centre-payoke", "centre-pag-asa", "centre-surya"


async def test_a_case_is_held_by_its_admitting_centre_until_a_transfer_is_applied(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn:
        assert await custody.load(conn, "case-1") is None
        await custody.admit(conn, "case-1", A, date(2026, 1, 5))
        await custody.admit(conn, "case-1", A, date(2026, 1, 5))  # redelivered: no second period
        held = await custody.load(conn, "case-1")
        assert held is not None and held.centre == A and len(held.periods) == 1
        assert held.relation(A) is Relation.OWNER and held.relation(B) is Relation.NONE
        assert held.held_until(A) is None


async def test_a_chain_of_transfers_leaves_one_holder_and_each_former_centre_its_own_period(
    db_pool: asyncpg.Pool,
) -> None:
    async with db_pool.acquire() as conn:
        await custody.admit(conn, "case-2", A, date(2026, 1, 5))
        assert await custody.hand_over(conn, "case-2", to_centre=B, seq=7, on=date(2026, 2, 1))
        assert await custody.hand_over(conn, "case-2", to_centre=C, seq=12, on=date(2026, 3, 1))
        assert not await custody.hand_over(conn, "case-2", to_centre=B, seq=7, on=date(2026, 2, 1))  # redelivery
        held = await custody.load(conn, "case-2")
        assert held is not None and held.centre == C
        assert [held.relation(c) for c in (A, B, C)] == [Relation.FORMER, Relation.FORMER, Relation.OWNER]
        assert held.held_until(A) == held.periods[1].since_at and held.held_until(B) == held.periods[2].since_at
        assert [held.holder_on(d) for d in (date(2026, 1, 31), date(2026, 2, 1), date(2026, 3, 5))] == [A, B, C]
        assert "case-2" in await custody.held_by(conn, C) and "case-2" not in await custody.held_by(conn, A)


async def test_a_transfer_cannot_claim_the_admission_sequence_number(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn:
        with pytest.raises(ValueError, match="above 0"):
            await custody.hand_over(conn, "case-3", to_centre=B, seq=0, on=date(2026, 2, 1))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chain=st.lists(st.sampled_from((A, B, C)), min_size=1, max_size=6), order=st.randoms(use_true_random=False))
async def test_in_whatever_order_hand_overs_arrive_the_holder_is_the_last_one_accepted(
    db_pool: asyncpg.Pool, chain: list[str], order
) -> None:
    case_id = f"case-{uuid.uuid4().hex}"  # the examples share one database
    steps = [(2 * i + 3, centre) for i, centre in enumerate(chain)]  # track versions of the acceptances
    delivered = steps + order.sample(steps, k=len(steps) // 2)  # some delivered twice
    order.shuffle(delivered)
    async with db_pool.acquire() as conn:
        for seq, centre in delivered:
            await custody.hand_over(conn, case_id, to_centre=centre, seq=seq, on=date(2026, 2, 1))
        await custody.admit(conn, case_id, A, date(2026, 1, 5))  # the admission consumed last of all
        held = await custody.load(conn, case_id)
    assert held is not None
    assert held.centre == chain[-1]
    assert [p.centre for p in held.periods] == [A, *chain]
    assert sum(held.relation(c) is Relation.OWNER for c in (A, B, C)) == 1


async def test_hand_overs_applied_out_of_order_end_each_former_period_at_the_first_later_one_applied(
    db_pool: asyncpg.Pool,
) -> None:
    async with db_pool.acquire() as conn:
        await custody.admit(conn, "case-4", A, date(2026, 1, 5))
        await custody.hand_over(conn, "case-4", to_centre=C, seq=9, on=date(2026, 3, 1))  # B → C consumed first
        await custody.hand_over(conn, "case-4", to_centre=B, seq=5, on=date(2026, 2, 1))  # then A → B
        held = await custody.load(conn, "case-4")
    assert held is not None and held.centre == C
    seq9 = next(p for p in held.periods if p.seq == 9)
    # A stopped holding the case here when C's hand-over was applied, before B's: it reads nothing after that.
    assert held.held_until(A) == seq9.since_at
    assert held.held_until(B) == seq9.since_at
