"""The waiting list is served whenever capacity appears (issue 13): a new shelter, a bed added, a bed back in
service, a bed freed by an exit. Each trigger against the real housing service and PostgreSQL, with mixed
urgencies and bed constraints: most urgent first, then the earliest request, and only a bed that fits.

Before the fix only a freed bed served the list: a person waiting "tonight" saw a new shelter's bed go to a
"planned" request made after it. Each test runs its own service (a fresh database), so the centres' networks
hold exactly what the test put there and every count is exact. Housing's lists that grow with the data (the
waiting list, the occupancy history) are pages, walked here while the data changes between pages (issue 15).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from harbour import custody
from harbour.clock import ManualClock
from services.housing.app import DEFINITION
from tests.support.harness import RunningService, running_service
from tests.support.housing_env import new_id, register_shelter, request_bed

pytestmark = pytest.mark.integration
CENTRE = "centre-surya"


@pytest.fixture
async def housing(pg_server_url, broker) -> AsyncIterator[tuple[RunningService, ManualClock]]:
    if not broker.is_running:
        broker.start()
    clock = ManualClock(datetime(2026, 1, 5, 18, 0, tzinfo=UTC))
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=broker.bootstrap, clock=clock,
                               background=False) as svc:  # fmt: skip
        yield svc, clock


async def admitted(svc: RunningService) -> str:
    """A case housing follows for the centre (its mirror of intake's CaseOpened, as the access test writes it)."""
    case_id = new_id("case")
    async with svc.runtime.pool.acquire() as conn:
        await conn.execute("INSERT INTO case_registry VALUES ($1, $2, $3, $4)", case_id, new_id("person"), CENTRE,
                           date(2026, 1, 5))  # fmt: skip
        await custody.admit(conn, case_id, CENTRE, date(2026, 1, 5))
    return case_id


async def waiting(svc: RunningService) -> list[str]:
    listed = (await svc.client.get("/housing/waiting-list?limit=500", headers=svc.token(CENTRE, "housing"))).json()
    assert listed["next"] is None and listed["status"] == "waiting"  # one page holds them all: none left unread
    return [w["case_id"] for w in listed["items"]]


async def occupant(svc: RunningService, bed_id: str) -> str | None:
    async with svc.runtime.pool.acquire() as conn:
        return await conn.fetchval("SELECT occupant FROM housing_beds WHERE centre = $1 AND bed_id = $2", CENTRE,
                                   bed_id)  # fmt: skip


async def served_count(svc: RunningService) -> int:
    async with svc.runtime.pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM events WHERE event_type = 'WaitlistServed'")


async def full_centre_with_a_queue(svc: RunningService, clock: ManualClock) -> tuple[str, dict[str, str]]:
    """A full shelter (one plain bed, one women-only room) and four people waiting, arriving in this order:
    planned (no needs), tonight (women-only), urgent (no needs), tonight (accessible)."""
    shelter = await register_shelter(svc, CENTRE, {"plain": [], "women": ["women-only"], "acc": ["accessible"]})
    for needs in ([], ["women-only"], ["accessible"]):
        assert (await request_bed(svc, CENTRE, await admitted(svc), needs=needs))["status"] == "assigned"
    queue: dict[str, str] = {}
    for name, needs, urgency in (("planned", [], "planned"), ("tonight-w", ["women-only"], "tonight"),
                                 ("urgent", [], "urgent"), ("tonight-a", ["accessible"], "tonight")):  # fmt: skip
        clock.advance(timedelta(minutes=5))
        queue[name] = await admitted(svc)
        outcome = await request_bed(svc, CENTRE, queue[name], needs=needs, urgency=urgency)
        assert outcome["status"] == "waitlisted", outcome
    assert await waiting(svc) == [queue[n] for n in ("tonight-w", "tonight-a", "urgent", "planned")]
    return shelter, queue


async def test_a_new_shelter_gives_its_bed_to_the_person_waiting_tonight_not_to_a_later_planned_request(housing):
    svc, clock = housing
    await register_shelter(svc, CENTRE, {"only": []})
    assert (await request_bed(svc, CENTRE, await admitted(svc)))["status"] == "assigned"
    clock.advance(timedelta(minutes=1))
    tonight = await admitted(svc)
    assert (await request_bed(svc, CENTRE, tonight, urgency="tonight"))["status"] == "waitlisted"
    clock.advance(timedelta(hours=1))
    await register_shelter(svc, CENTRE, {"new": []}, name="New house")
    assert await occupant(svc, "new") == tonight
    assert await waiting(svc) == [] and await served_count(svc) == 1
    # The "planned" request that came after it (and took the bed before the fix) now waits.
    later = await admitted(svc)
    assert (await request_bed(svc, CENTRE, later, urgency="planned"))["status"] == "waitlisted"
    assert await waiting(svc) == [later]


async def test_a_new_shelter_serves_the_queue_by_urgency_then_time_with_only_the_beds_that_fit(housing):
    svc, clock = housing
    _, queue = await full_centre_with_a_queue(svc, clock)
    await register_shelter(svc, CENTRE, {"n1": [], "n2": [], "n3": ["women-only"]}, name="Second house")
    # The women-only room goes to the tonight request that needs one; the two plain beds to the next fitting
    # requests in order (urgent, then planned); the accessible request waits: no new bed offers access.
    assert {b: await occupant(svc, b) for b in ("n1", "n2", "n3")} == {
        "n1": queue["urgent"], "n2": queue["planned"], "n3": queue["tonight-w"],
    }  # fmt: skip
    assert await waiting(svc) == [queue["tonight-a"]] and await served_count(svc) == 3


async def test_a_bed_added_to_a_shelter_goes_to_the_first_waiting_person_it_fits(housing):
    svc, clock = housing
    shelter, queue = await full_centre_with_a_queue(svc, clock)
    headers = svc.token(CENTRE, "housing")
    r = await svc.client.post(f"/housing/shelters/{shelter}/beds", json={"bed_id": "extra"}, headers=headers)
    assert r.status_code == 204, r.text
    assert await occupant(svc, "extra") == queue["urgent"]  # the first the plain bed fits, past both tonights
    r = await svc.client.post(f"/housing/shelters/{shelter}/beds",
                              json={"bed_id": "ramp", "constraints": ["accessible"]}, headers=headers)  # fmt: skip
    assert r.status_code == 204, r.text
    assert await occupant(svc, "ramp") == queue["tonight-a"]
    assert await waiting(svc) == [queue["tonight-w"], queue["planned"]] and await served_count(svc) == 2
    occupancy = (await svc.client.get("/housing/occupancy", headers=headers)).json()
    assert occupancy["totals"] == {"beds": 5, "in_service": 5, "occupied": 5, "free": 0}
    # A bed dated in the future, or with an id the shelter already has, is refused and adds nothing.
    r = await svc.client.post(f"/housing/shelters/{shelter}/beds", json={"bed_id": "later", "on": "2035-01-01"},
                              headers=headers)  # fmt: skip
    assert r.status_code == 422 and r.json()["rule"] == "add-bed-not-in-the-future", r.text
    r = await svc.client.post(f"/housing/shelters/{shelter}/beds", json={"bed_id": "ramp"}, headers=headers)
    assert r.status_code == 422 and r.json()["field"] == "bed_id", r.text
    assert (await svc.client.get("/housing/occupancy", headers=headers)).json()["totals"]["beds"] == 5


async def test_a_bed_back_in_service_and_a_bed_freed_by_an_exit_serve_the_queue_in_the_same_order(housing):
    svc, clock = housing
    shelter, queue = await full_centre_with_a_queue(svc, clock)
    headers = svc.token(CENTRE, "housing")
    await register_shelter(svc, CENTRE, {"spare": ["women-only"]}, name="Spare")  # served at once: tonight-w
    assert await occupant(svc, "spare") == queue["tonight-w"]
    # Freed by an exit: the plain bed goes to "urgent" (the accessible tonight request does not fit it).
    plain = await occupant(svc, "plain")
    assert plain is not None
    r = await svc.client.post(f"/housing/cases/{plain}/exit", json={"reason": "moved-on"},
                              headers=svc.token(CENTRE, "caseworker"))  # fmt: skip
    assert r.status_code == 200, r.text
    assert await occupant(svc, "plain") == queue["urgent"]
    # Out of service and back: the accessible bed, once freed, is not served while out of service...
    acc = await occupant(svc, "acc")
    assert acc is not None
    r = await svc.client.post(f"/housing/cases/{acc}/moves", json={"to": "transitional"},
                              headers=svc.token(CENTRE, "caseworker"))  # fmt: skip
    assert r.status_code == 200, r.text
    assert await occupant(svc, "acc") == queue["tonight-a"]  # freed by the move: served at once
    assert await waiting(svc) == [queue["planned"]]
    women = await occupant(svc, "women")
    r = await svc.client.post(f"/housing/cases/{women}/exit", json={"reason": "moved-on"},
                              headers=svc.token(CENTRE, "caseworker"))  # fmt: skip
    assert r.status_code == 200 and await occupant(svc, "women") is None  # planned needs nothing: no women's room
    await _post(svc, f"/housing/shelters/{shelter}/beds/women/out-of-service", {}, headers)
    later = await admitted(svc)
    assert (await request_bed(svc, CENTRE, later, needs=["women-only"], urgency="tonight"))["status"] == "waitlisted"
    await _post(svc, f"/housing/shelters/{shelter}/beds/women/in-service", {}, headers)
    assert await occupant(svc, "women") == later
    assert await waiting(svc) == [queue["planned"]] and await served_count(svc) == 4


async def _post(svc: RunningService, path: str, body: dict[str, Any], headers: dict[str, str]) -> None:
    r = await svc.client.post(path, json=body, headers=headers)
    assert r.status_code == 204, r.text


async def _waiting_page(svc: RunningService, query: str) -> dict[str, Any]:
    response = await svc.client.get(f"/housing/waiting-list?{query}", headers=svc.token(CENTRE, "housing"))
    assert response.status_code == 200, response.text
    return response.json()


async def test_walking_the_waiting_list_two_at_a_time_reads_each_request_once_in_serving_order_with_requests_between(
    housing,
):
    svc, clock = housing
    await full_centre_with_a_queue(svc, clock)  # four waiting: tonight-w, tonight-a, urgent, planned
    before = [w["request_id"] for w in (await _waiting_page(svc, "limit=500"))["items"]]
    assert len(before) == 4
    walked: list[dict[str, Any]] = []
    ahead: set[str] = set()
    behind: set[str] = set()
    # Between pages: "tonight" requests (after the tonights queued before them, before everything less urgent)
    # and "planned" ones (after everything); which side of the cursor each lands on is read from the whole queue.
    arrivals = ["planned", "tonight", "planned", "tonight"]
    page = await _waiting_page(svc, "limit=2")
    while True:
        walked += page["items"]
        if page["next"] is None:
            break
        if arrivals:
            clock.advance(timedelta(minutes=5))
            urgency = arrivals.pop(0)
            outcome = await request_bed(svc, CENTRE, await admitted(svc), urgency=urgency)
            assert outcome["status"] == "waitlisted", outcome
            queue = [w["request_id"] for w in (await _waiting_page(svc, "limit=500"))["items"]]
            new, last = queue.index(outcome["request_id"]), queue.index(page["items"][-1]["request_id"])
            (ahead if new > last else behind).add(outcome["request_id"])
        page = await _waiting_page(svc, f"limit=2&after={page['next']}")
    ids = [w["request_id"] for w in walked]
    assert len(ids) == len(set(ids))  # none read twice
    assert set(before) | ahead == set(ids) and not behind & set(ids)  # none lost; none behind the cursor
    assert len(ids) == 4 + len(ahead) and len(ahead) >= 1 and len(behind) >= 1  # counted
    # The positions are the whole queue's, as it stood when each page was read: they only grow along the walk.
    assert [w["position"] for w in walked] == sorted(w["position"] for w in walked)
    final = (await _waiting_page(svc, "limit=500"))["items"]
    assert [w["position"] for w in final] == list(range(1, len(final) + 1)) and len(final) == 4 + 4 - len(arrivals)


async def test_a_waiting_list_page_out_of_bounds_a_forged_cursor_or_an_unknown_queue_is_refused_naming_the_field(
    housing,
):
    svc, _ = housing
    headers = svc.token(CENTRE, "housing")
    # base64url of [1,"yesterday",1,"r"] and of [9223372036854775808,"2026-01-05T18:00:00+00:00",1,"r"]: well
    # formed, but no key the service gave (a moment it cannot read; an integer past int64).
    forged = ("WzEsInllc3RlcmRheSIsMSwiciJd",
              "WzkyMjMzNzIwMzY4NTQ3NzU4MDgsIjIwMjYtMDEtMDVUMTg6MDA6MDArMDA6MDAiLDEsInIiXQ==")  # fmt: skip
    for query, field in [("limit=0", "limit"), ("limit=501", "limit"), ("after=AAAA", "after"),
                         ("after=not%20a%20cursor", "after"), ("after=" + "A" * 401, "after"),
                         *((f"after={f}", "after") for f in forged), ("status=placed", "status")]:  # fmt: skip
        response = await svc.client.get(f"/housing/waiting-list?{query}", headers=headers)
        assert response.status_code == 422, (query, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in response.json()["errors"]], (query, response.text)


async def _history_page(svc: RunningService, query: str) -> dict[str, Any]:
    response = await svc.client.get(f"/housing/occupancy/history?since=2026-01-01&until=2026-01-10&{query}",
                                    headers=svc.token(CENTRE, "caseworker"))  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()


async def test_walking_the_occupancy_history_three_days_at_a_time_reads_each_day_once_in_order_while_beds_fill(
    housing,
):
    svc, _ = housing
    await register_shelter(svc, CENTRE, {"b1": [], "b2": [], "b3": []})  # on 2026-01-05, the clock's day
    walked: list[dict[str, Any]] = []
    placed = 0
    page = await _history_page(svc, "limit=3")
    while True:
        assert len(page["items"]) <= 3 and (page["since"], page["until"]) == ("2026-01-01", "2026-01-10")
        walked += page["items"]
        if page["next"] is None:
            break
        assert (await request_bed(svc, CENTRE, await admitted(svc)))["status"] == "assigned"  # today fills
        placed += 1
        page = await _history_page(svc, f"limit=3&after={page['next']}")
    days = [d["day"] for d in walked]
    assert days == [f"2026-01-{n:02}" for n in range(1, 11)]  # each of the ten days once, in order: none lost
    assert placed == 3  # four pages of 3, 3, 3 and 1 days
    assert [d["totals"]["beds"] for d in walked] == [0] * 4 + [3] * 6
    # Each day as it stood when its page was read: the 5th's page was the second, read after one placement.
    assert [d["totals"]["occupied"] for d in walked] == [0] * 4 + [1, 1, 2, 2, 2, 3]
    whole = await _history_page(svc, "limit=500")
    assert whole["next"] is None and [d["totals"]["occupied"] for d in whole["items"]] == [0] * 4 + [3] * 6


async def test_an_occupancy_history_page_out_of_bounds_or_a_cursor_of_another_period_is_refused_naming_the_field(
    housing,
):
    svc, _ = housing
    headers = svc.token(CENTRE, "caseworker")
    # base64url of ["2025-12-31"] and of ["2026-01-10"]: days this period's pages never end on.
    for query, field in [("limit=0", "limit"), ("limit=501", "limit"), ("after=AAAA", "after"),
                         ("after=not%20a%20cursor", "after"), ("after=" + "A" * 101, "after"),
                         ("after=WyIyMDI1LTEyLTMxIl0=", "after"), ("after=WyIyMDI2LTAxLTEwIl0=", "after")]:  # fmt: skip
        response = await svc.client.get(f"/housing/occupancy/history?since=2026-01-01&until=2026-01-10&{query}",
                                        headers=headers)  # fmt: skip
        assert response.status_code == 422, (query, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in response.json()["errors"]], (query, response.text)


async def test_walking_a_case_history_two_at_a_time_reads_each_fact_once_in_order_with_facts_recorded_between_pages(
    housing,
):
    svc, clock = housing
    await register_shelter(svc, CENTRE, {"only": []})
    assert (await request_bed(svc, CENTRE, await admitted(svc)))["status"] == "assigned"  # the shelter is full
    case_id = await admitted(svc)
    headers = svc.token(CENTRE, "caseworker")

    async def request_and_withdraw() -> None:  # two facts of the case at least: the request, its withdrawal
        clock.advance(timedelta(minutes=1))
        outcome = await request_bed(svc, CENTRE, case_id)
        assert outcome["status"] == "waitlisted", outcome
        r = await svc.client.post(f"/housing/requests/{outcome['request_id']}/withdraw",
                                  json={"reason": "no-longer-needed"}, headers=headers)  # fmt: skip
        assert r.status_code == 200, r.text

    async def page_of(query: str) -> dict[str, Any]:
        response = await svc.client.get(f"/housing/cases/{case_id}/history?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    await request_and_withdraw()
    before = len((await page_of("limit=500"))["items"])
    walked: list[tuple[str, str]] = []
    gaps = 0
    page = await page_of("limit=2")
    while True:
        walked += [(e["at"], e["event_type"]) for e in page["items"]]
        if page["next"] is None:
            break
        if gaps < 3:  # facts recorded between pages: always after the cursor, so on a later page
            await request_and_withdraw()
        gaps += 1
        page = await page_of(f"limit=2&after={page['next']}")
    whole = await page_of("limit=500")
    assert whole["next"] is None and len(whole["items"]) == before * 4  # the same facts again three times
    assert walked == [(e["at"], e["event_type"]) for e in whole["items"]]  # each once, in the order recorded
    for query, field in [("limit=0", "limit"), ("limit=501", "limit"), ("after=AAAA", "after"),
                         ("after=WyJ4IiwxXQ==", "after")]:  # fmt: skip
        response = await svc.client.get(f"/housing/cases/{case_id}/history?{query}", headers=headers)
        assert response.status_code == 422 and field in [e["field"] for e in response.json()["errors"]], query


async def test_walking_the_occupancy_two_shelters_at_a_time_reads_each_once_by_name_with_shelters_registered_between(
    housing,
):
    svc, _ = housing
    headers = svc.token(CENTRE, "housing")

    async def page_of(query: str) -> dict[str, Any]:
        response = await svc.client.get(f"/housing/occupancy?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    for name in ("House B", "House D", "House F", "House H", "House J"):
        await register_shelter(svc, CENTRE, {"b1": [], "b2": []}, name=name)
    arrivals = ["House A", "House K", "House C", "House L"]  # before and after the cursor, in turn
    walked: list[str] = []
    page = await page_of("limit=2")
    while True:
        assert page["totals"]["beds"] == 2 * (5 + 4 - len(arrivals))  # every shelter's beds, on every page
        walked += [s["name"] for s in page["items"]]
        if page["next"] is None:
            break
        if arrivals:
            await register_shelter(svc, CENTRE, {"b1": [], "b2": []}, name=arrivals.pop(0))
        page = await page_of(f"limit=2&after={page['next']}")
    assert walked == sorted(set(walked))  # each once, by name
    # The five there at the start and House K, registered ahead of the cursor; House A came behind it. The walk
    # ended before the last two were registered.
    assert walked == ["House B", "House D", "House F", "House H", "House J", "House K"] and len(arrivals) == 2
    whole = await page_of("limit=500")
    assert [s["name"] for s in whole["items"]] == sorted([*walked, "House A"]) and whole["next"] is None
    other = await register_shelter(svc, "centre-payoke", {"b1": []}, name="Elsewhere")
    other_cursor = base64.urlsafe_b64encode(json.dumps([other]).encode()).decode()
    for query, field in [("limit=0", "limit"), ("limit=501", "limit"), ("after=AAAA", "after"),
                         ("after=WyJub25lIl0=", "after"), (f"after={other_cursor}", "after")]:  # fmt: skip
        # The last two: a shelter that does not exist, and another centre's: no cursor this centre was given.
        response = await svc.client.get(f"/housing/occupancy?{query}", headers=headers)
        assert response.status_code == 422 and field in [e["field"] for e in response.json()["errors"]], query
