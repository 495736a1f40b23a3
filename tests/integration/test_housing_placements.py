"""Housing against the real PostgreSQL and broker: capacity under concurrency, the waiting list, intake's
``CaseOpened``, and commands that commit two streams in one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from harbour.clock import ManualClock
from services.housing.app import DEFINITION
from tests.support.harness import running_service
from tests.support.housing_env import exit_case, open_case, register_shelter, request_bed
from tests.support.upstream import upstream
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
CLOCK = ManualClock(datetime(2026, 1, 5, 20, 0, tzinfo=UTC))


@pytest.fixture(scope="module")
async def world(pg_server_url, broker) -> AsyncIterator[tuple]:
    """One housing service and one intake upstream for the module: each test uses its own centre."""
    if not broker.is_running:
        broker.start()
    async with (
        running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=broker.bootstrap, clock=CLOCK) as housing,
        upstream("intake", pg_server_url=pg_server_url, bootstrap=broker.bootstrap) as intake,
    ):
        yield housing, intake


async def test_twenty_concurrent_requests_for_three_beds_assign_exactly_three_and_waitlist_the_rest(world):
    housing, intake = world
    centre = "centre-surya"
    cases = await asyncio.gather(*(open_case(housing, intake, centre) for _ in range(20)))
    shelter = await register_shelter(housing, centre, {"b1": [], "b2": [], "b3": []})
    outcomes = await asyncio.gather(*(request_bed(housing, centre, case_id) for case_id, _ in cases))
    statuses = sorted(o["status"] for o in outcomes)
    assert statuses == ["assigned"] * 3 + ["waitlisted"] * 17
    assert sorted(o["bed_id"] for o in outcomes if o["status"] == "assigned") == ["b1", "b2", "b3"]
    async with housing.runtime.pool.acquire() as conn:
        occupied = await conn.fetchval("SELECT count(*) FROM housing_beds WHERE shelter_id = $1 AND occupant IS NOT "
                                       "NULL", shelter)  # fmt: skip
        stored = await conn.fetch("SELECT event_type FROM events WHERE stream_id = 'shelter-network-centre-surya'")
    assert occupied == 3
    assert [r["event_type"] for r in stored].count("BedAssigned") == 3
    waiting = (await housing.client.get("/housing/waiting-list", headers=housing.token(centre, "housing"))).json()
    assert [w["position"] for w in waiting["items"]] == list(range(1, 18)) and waiting["next"] is None
    occupancy = (await housing.client.get("/housing/occupancy", headers=housing.token(centre, "caseworker"))).json()
    assert occupancy["totals"] == {"beds": 3, "in_service": 3, "occupied": 3, "free": 0}


async def test_the_waiting_list_is_served_by_urgency_then_time_each_time_a_bed_frees(world):
    housing, intake = world
    centre = "centre-pag-asa"
    await register_shelter(housing, centre, {"only": []})
    first, planned, urgent, tonight, urgent_later = [
        (await open_case(housing, intake, centre))[0] for _ in range(5)]  # fmt: skip
    assert (await request_bed(housing, centre, first))["status"] == "assigned"
    for case_id, urgency in ((planned, "planned"), (urgent, "urgent"), (tonight, "tonight"),
                             (urgent_later, "urgent")):  # fmt: skip
        CLOCK.advance(timedelta(minutes=1))
        assert (await request_bed(housing, centre, case_id, urgency=urgency))["status"] == "waitlisted"
    listed = (await housing.client.get("/housing/waiting-list", headers=housing.token(centre, "manager"))).json()
    assert [w["case_id"] for w in listed["items"]] == [tonight, urgent, urgent_later, planned] and not listed["next"]
    served = []
    occupant = first
    for _ in range(4):
        await exit_case(housing, centre, occupant)
        async with housing.runtime.pool.acquire() as conn:
            occupant = await conn.fetchval(
                "SELECT occupant FROM housing_beds WHERE centre = $1 AND occupant IS NOT NULL", centre
            )
        served.append(occupant)
    assert served == [tonight, urgent, urgent_later, planned]


async def test_an_exit_frees_the_bed_and_serves_the_next_person_in_one_transaction(world):
    housing, intake = world
    centre = "centre-pag-asa"
    leaving, waiting = [(await open_case(housing, intake, centre))[0] for _ in range(2)]
    await register_shelter(housing, centre, {"spare": []})  # the other house of pag-asa is full
    assert (await request_bed(housing, centre, leaving))["status"] == "assigned"
    assert (await request_bed(housing, centre, waiting))["status"] == "waitlisted"
    await exit_case(housing, centre, leaving, reason="left-without-notice")
    async with housing.runtime.pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT tx_id, stream_id, event_type FROM events
               WHERE case_id = ANY($1::text[]) ORDER BY global_position DESC LIMIT 5""",
            [leaving, waiting],
        )
    last_tx = rows[0]["tx_id"]
    together = {(r["stream_id"], r["event_type"]) for r in rows if r["tx_id"] == last_tx}
    assert together == {
        ("shelter-network-centre-pag-asa", "PlacementExited"), (f"placement-{leaving}", "HousingEnded"),
        ("shelter-network-centre-pag-asa", "WaitlistServed"), ("shelter-network-centre-pag-asa", "BedAssigned"),
        (f"placement-{waiting}", "PersonMoved"),
    }  # fmt: skip


async def test_a_case_opened_by_intake_needing_shelter_tonight_gets_a_bed_at_the_admitting_centre(world):
    housing, intake = world
    centre = "centre-payoke"
    shelter = await register_shelter(housing, centre, {"b1": ["accessible"], "b2": []})
    case_id, _ = await open_case(housing, intake, centre, tonight=True)

    async def placed() -> bool:
        async with housing.runtime.pool.acquire() as conn:
            return await conn.fetchval("SELECT status FROM housing_requests WHERE case_id = $1", case_id) == "assigned"

    await wait_until(placed, timeout=30)
    history = (await housing.client.get(f"/housing/cases/{case_id}/history",
                                        headers=housing.token(centre, "caseworker"))).json()  # fmt: skip
    kinds = [(e["event_type"], e.get("shelter_id"), e.get("bed_id")) for e in history["items"]]
    # The bed with no feature the person needs is given first: the accessible one is kept for who needs it.
    assert kinds == [("PlacementRequested", None, None), ("BedAssigned", shelter, "b2"),
                     ("PersonMoved", shelter, None)]  # fmt: skip
    requested, *_ = await housing.runtime.store.read_case(case_id)
    assert requested.event_type == "PlacementRequested"
    assert requested.payload["source"] == "intake" and requested.payload["urgency"] == "tonight"
    assert requested.case_id == case_id, "network events are keyed by their own case"
