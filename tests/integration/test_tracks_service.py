"""The tracks service end to end: real intake, legal and housing events on their real topics, the real
PostgreSQL, the real broker; time moved with a ManualClock, due timers fired by the test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest

from harbour import timers
from harbour.pii import ERASED
from harbour.store import Actor
from harbour_tools.infra import BrokerProcess
from schemas.housing import HousingKind, PersonMoved
from schemas.legal import (
    DocumentIssued,
    EndingReason,
    ProceedingsConcluded,
    ProceedingsOutcome,
    ResidenceDocument,
    ResidenceStatusEnded,
)
from services.tracks.deadlines import OVERDUE, REMINDER, at_office_opening, timer_key
from services.tracks.domain import add_months, review_deadlines
from services.tracks.handlers import UNASSIGNED
from tests.support.kafka import headers_of, read_topic
from tests.support.tracks_env import PURPOSE, TracksEnv, tracks_env
from tests.support.waiting import wait_until

PAYOKE, PAG_ASA, SURYA = "centre-payoke", "centre-pag-asa", "centre-surya"


@pytest.fixture(scope="module")
async def env(pg_server_url: str, broker: BrokerProcess) -> AsyncIterator[TracksEnv]:
    if not broker.is_running:
        broker.start()
    async with tracks_env(pg_server_url, broker.bootstrap) as running:
        yield running


async def set_goal(env: TracksEnv, case_id: str, area: str, words: str = "I want to", org: str = PAYOKE) -> str:
    body = {"area": area, "target_date": str(env.today + timedelta(days=90)), "own_words": words}
    return (await env.post(f"/tracks/{case_id}/goals", body, org, expect=201))["id"]


async def test_a_track_opens_from_intakes_case_opened_at_the_admitting_centre_with_the_admitting_caseworker(env):
    case_id, person_id = await env.open_case(centre=PAG_ASA, actor=Actor(PAG_ASA, "caseworker", "cw-anna"))
    track = await env.get(f"/tracks/{case_id}", PAG_ASA)
    assert (track["owning_centre"], track["caseworker_id"], track["phase"]) == (PAG_ASA, "cw-anna", "reflection-period")
    assert track["next_review_due"] == str(add_months(env.today, 3))
    [opened] = await env.events(case_id)
    assert opened.payload["person_id"] == person_id and opened.causation_id is not None


async def test_a_track_admitted_by_a_manager_is_unassigned_until_a_manager_assigns_a_caseworker(env):
    case_id, _ = await env.open_case(actor=Actor(PAYOKE, "manager", "m-1"))
    caseload = await env.get(f"/caseload?caseworker_id={UNASSIGNED}&limit=500", PAYOKE, "manager", "m-1")
    assert caseload["next"] is None  # one page holds them all: none is left unread
    assert case_id in [t["case_id"] for t in caseload["items"]]
    track = (
        await env.svc.client.put(
            f"/tracks/{case_id}/caseworker", json={"caseworker_id": "cw-bo"}, headers=env.auth(PAYOKE, "manager", "m-1")
        )
    ).json()
    assert track["caseworker_id"] == "cw-bo"
    caseload = await env.get("/caseload", PAYOKE, "caseworker", "cw-bo")
    assert [t["case_id"] for t in caseload["items"]] == [case_id] and caseload["next"] is None


async def test_closure_is_refused_while_proceedings_are_open_and_allowed_once_legal_reports_them_concluded(env):
    case_id, _ = await env.open_case()
    goal = await set_goal(env, case_id, "juridical")
    await env.post(f"/tracks/{case_id}/goals/{goal}/progress", None, PAYOKE)
    refused = await env.post(f"/tracks/{case_id}/closure", {"reason": "completed"}, PAYOKE, expect=422)
    assert refused["field"] == "proceedings_concluded"

    on = env.today
    await env.from_legal(
        case_id,
        "proceedings",
        ProceedingsConcluded(case_id=case_id, concluded_on=on, outcome=ProceedingsOutcome.FINAL_JUDGMENT),
    )
    await env.wait_for(case_id, "ProceedingsConcludedNoted")
    refused = await env.post(f"/tracks/{case_id}/closure", {"reason": "completed"}, PAYOKE, expect=422)
    assert refused["field"] == "residence_settled"

    await env.from_legal(
        case_id,
        "residence",
        DocumentIssued(case_id=case_id, document=ResidenceDocument.B_CARD, decided_on=on, starts_on=on, ends_on=None),
    )
    await env.wait_for(case_id, "ResidenceSettledNoted")
    track = await env.get(f"/tracks/{case_id}", PAYOKE)
    assert track["legal_status"] == "granted" and track["proceedings_concluded"] and track["residence_settled"]
    # The facts flag the juridical goal for the next review; the plan itself is not changed behind anyone's back.
    [juridical] = track["goals"]
    assert juridical["status"] == "in-progress" and "proceedings-concluded" in juridical["flagged_because"]
    refused = await env.post(f"/tracks/{case_id}/closure", {"reason": "completed"}, PAYOKE, expect=422)
    assert refused["field"] == "goals"

    await env.post(f"/tracks/{case_id}/goals/{goal}/achieve", None, PAYOKE)
    closed = await env.post(f"/tracks/{case_id}/closure", {"reason": "completed"}, PAYOKE)
    assert closed["closed"] and closed["phase"] == "aftercare" and closed["closure_reason"] == "completed"
    reopened = await env.post(f"/tracks/{case_id}/reopening", {"reason": "she asked for help again"}, PAYOKE)
    assert not reopened["closed"] and reopened["phase"] == "guidance" and reopened["proceedings_concluded"]


async def test_an_early_closure_with_a_reason_needs_no_legal_report(env):
    case_id, _ = await env.open_case()
    closed = await env.post(f"/tracks/{case_id}/closure", {"reason": "lost-contact"}, PAYOKE)
    assert closed["closure_reason"] == "lost-contact"


async def test_legal_and_housing_facts_that_arrive_before_the_track_are_applied_when_it_opens(env):
    case_id = f"case-early-{uuid.uuid4().hex[:8]}"
    on = env.today
    await env.from_legal(
        case_id,
        "residence",
        ResidenceStatusEnded(case_id=case_id, ended_on=on, reason=EndingReason.STOPPED_COOPERATING),
    )
    await env.from_housing(case_id, PersonMoved(case_id=case_id, to=HousingKind.INDEPENDENT, on=on))

    async def parked() -> bool:
        async with env.svc.runtime.pool.acquire() as conn:
            return await conn.fetchval("SELECT count(*) FROM parked_facts WHERE case_id = $1", case_id) == 3

    await wait_until(parked, timeout=40)
    await env.open_case(case_id=case_id)
    types = await env.types(case_id)
    assert types[0] == "TrackOpened"
    assert sorted(types[1:]) == ["HousingSecuredNoted", "LegalStatusNoted", "ResidenceSettledNoted"]
    track = await env.get(f"/tracks/{case_id}", PAYOKE)
    assert track["legal_status"] == "ended" and track["residence_settled"] and track["housing_secured"]
    assert not await parked()


async def test_a_transfer_accepted_moves_the_track_and_the_former_centre_keeps_only_its_own_history(env):
    case_id, _ = await env.open_case()
    goal = await set_goal(env, case_id, "housing", "a flat near my sister")
    await env.post(
        f"/tracks/{case_id}/sessions",
        {
            "session_id": "s-before",
            "held_on": str(env.today),
            "area": "housing",
            "kind": "conversation",
            "duration_minutes": 45,
            "attended": True,
            "notes": "talked about the move",
        },
        PAYOKE,
        expect=201,
    )
    await env.post(f"/tracks/{case_id}/transfer", {"to_centre": SURYA, "reason": "person-relocated"}, PAYOKE, "manager")
    incoming = await env.get("/transfers/incoming?limit=500", SURYA, "manager")
    assert incoming["next"] is None  # one page holds them all: none is left unread
    assert {"case_id": case_id, "from_centre": PAYOKE} in incoming["items"]
    await env.get(f"/tracks/{case_id}", SURYA, expect=403)  # not before it accepted
    accepted = await env.post(f"/tracks/{case_id}/transfer/accept", {"caseworker_id": "cw-liege"}, SURYA, "manager")
    assert accepted["owning_centre"] == SURYA and accepted["caseworker_id"] == "cw-liege"
    # The receiving centre sees the plan and its open goals, and continues it.
    assert [g["goal_id"] for g in accepted["goals"]] == [goal]
    await env.post(
        f"/tracks/{case_id}/sessions",
        {
            "session_id": "s-after",
            "held_on": str(env.today),
            "area": "psychosocial",
            "kind": "phone",
            "duration_minutes": 20,
            "attended": True,
            "notes": "settled in Liège",
        },
        SURYA,
        expect=201,
    )

    former = await env.get(f"/tracks/{case_id}", PAYOKE)
    assert former["as_former_owner"] and former["caseworker_id"] is None and former["sessions_recorded"] == 1
    timeline = await env.get(f"/tracks/{case_id}/timeline", PAYOKE)
    assert [e["event_type"] for e in timeline["items"]][-1] == "TransferAccepted"
    assert "SessionRecorded" in [
        e["event_type"] for e in (await env.get(f"/tracks/{case_id}/timeline", SURYA))["items"][-1:]
    ]
    notes = await env.get(f"/tracks/{case_id}/sessions/s-before/notes", PAYOKE, headers=PURPOSE)
    assert notes["texts"] == {"notes": "talked about the move"}
    await env.get(f"/tracks/{case_id}/sessions/s-after/notes", PAYOKE, headers=PURPOSE, expect=404)
    await env.post(f"/tracks/{case_id}/reviews", None, PAYOKE, expect=403)
    assert (await env.get(f"/tracks/{case_id}/sessions/s-before/notes", SURYA, headers=PURPOSE))["texts"]
    caseload = await env.get("/caseload?limit=500", PAYOKE)
    assert caseload["next"] is None  # one page holds them all: none is left unread
    assert case_id not in [t["case_id"] for t in caseload["items"]]


async def test_a_transfer_declined_leaves_the_track_with_its_centre_and_a_new_request_can_follow(env):
    case_id, _ = await env.open_case()
    await env.post(f"/tracks/{case_id}/transfer", {"to_centre": PAG_ASA, "reason": "language"}, PAYOKE, "manager")
    declined = await env.post(f"/tracks/{case_id}/transfer/decline", {"reason": "no-capacity"}, PAG_ASA, "manager")
    assert declined == {"case_id": case_id, "declined_by": PAG_ASA, "reason": "no-capacity"}
    track = await env.get(f"/tracks/{case_id}", PAYOKE)
    assert track["owning_centre"] == PAYOKE and track["pending_transfer"] is None
    await env.get(f"/tracks/{case_id}", PAG_ASA, expect=404)  # it never owned it: as if it did not exist
    incoming = await env.get("/transfers/incoming?limit=500", PAG_ASA, "manager")
    assert incoming["next"] is None  # one page holds them all: none is left unread
    assert case_id not in [t["case_id"] for t in incoming["items"]]
    await env.post(f"/tracks/{case_id}/transfer", {"to_centre": SURYA, "reason": "safety"}, PAYOKE, "manager")
    withdrawn = await env.post(f"/tracks/{case_id}/transfer/withdraw", None, PAYOKE, "manager")
    assert withdrawn["pending_transfer"] is None


async def test_a_plan_review_reminder_fires_once_when_the_clock_reaches_it_and_the_review_moves_it_on(env):
    case_id, _ = await env.open_case()
    due = (await env.get(f"/tracks/{case_id}", PAYOKE))["next_review_due"]
    deadlines = review_deadlines(date.fromisoformat(due))
    await env.svc.runtime.timers.run_due_once()
    assert "PlanReviewReminderDue" not in await env.types(case_id)

    env.clock.set(at_office_opening(deadlines.remind_on) - timedelta(minutes=1))
    await env.svc.runtime.timers.run_due_once()
    assert "PlanReviewReminderDue" not in await env.types(case_id)
    env.clock.set(at_office_opening(deadlines.remind_on))
    await env.svc.runtime.timers.run_due_once()
    env.clock.advance(timedelta(days=1))
    await env.svc.runtime.timers.run_due_once()
    assert (await env.types(case_id)).count("PlanReviewReminderDue") == 1

    env.clock.set(at_office_opening(deadlines.overdue_on))
    await env.svc.runtime.timers.run_due_once()
    assert (await env.types(case_id)).count("PlanReviewOverdue") == 1
    caseload = await env.get("/caseload?limit=500", PAYOKE)
    overdue = caseload["overdue_reviews"]
    assert caseload["next"] is None  # one page holds them all: none is left unread
    assert [t["review_overdue"] for t in caseload["items"] if t["case_id"] == case_id] == [True]
    assert overdue == sum(t["review_overdue"] for t in caseload["items"])  # the count is the caseload's

    reviewed = await env.post(f"/tracks/{case_id}/reviews", None, PAYOKE)
    assert reviewed["next_review_due"] > due and not reviewed["review_overdue"]
    caseload = await env.get("/caseload?limit=500", PAYOKE)
    assert [t["review_overdue"] for t in caseload["items"] if t["case_id"] == case_id] == [False]
    assert caseload["overdue_reviews"] == overdue - 1
    async with env.svc.runtime.pool.acquire() as conn:
        new_due = date.fromisoformat(reviewed["next_review_due"])
        assert await timers.get_timer(conn, timer_key(case_id, new_due, REMINDER)) is not None
    await env.post(f"/tracks/{case_id}/closure", {"reason": "person-ended-guidance"}, PAYOKE)
    async with env.svc.runtime.pool.acquire() as conn:
        for kind in (REMINDER, OVERDUE):
            timer = await timers.get_timer(conn, timer_key(case_id, new_due, kind))
            assert timer is not None and timer.cancelled_at is not None


async def test_session_notes_and_goal_words_are_unreadable_after_the_persons_erasure(env):
    case_id, person_id = await env.open_case()
    goal = await set_goal(env, case_id, "psychosocial", "sleep without fear")
    await env.post(
        f"/tracks/{case_id}/sessions",
        {
            "session_id": "s1",
            "held_on": str(env.today),
            "area": "psychosocial",
            "kind": "home-visit",
            "duration_minutes": 60,
            "attended": True,
            "notes": "spoke about her family in Lagos",
        },
        PAYOKE,
        expect=201,
    )
    missing = await env.svc.client.get(f"/tracks/{case_id}/sessions/s1/notes", headers=env.auth(PAYOKE))
    assert missing.status_code == 422 and missing.json()["field"] == "Harbour-Purpose"
    before = await env.get(f"/tracks/{case_id}/sessions/s1/notes", PAYOKE, headers=PURPOSE)
    assert before == {
        "case_id": case_id,
        "ref": "s1",
        "texts": {"notes": "spoke about her family in Lagos"},
        "erased": False,
    }

    await env.erase(case_id, person_id)

    async def erased() -> bool:
        async with env.svc.runtime.pool.acquire() as conn:
            return await env.svc.runtime.vault.is_erased(conn, person_id)

    await wait_until(erased, timeout=40)
    after = await env.get(f"/tracks/{case_id}/sessions/s1/notes", PAYOKE, headers=PURPOSE)
    assert after["texts"] == {"notes": ERASED} and after["erased"]
    words = await env.get(f"/tracks/{case_id}/goals/{goal}/words", PAYOKE, headers=PURPOSE)
    assert words["texts"] == {"own_words": ERASED}
    # The non-identifying facts stay; nothing personal can be recorded for the person again.
    assert (await env.get(f"/tracks/{case_id}", PAYOKE))["sessions_recorded"] == 1
    refused = await env.post(
        f"/tracks/{case_id}/goals",
        {"area": "housing", "target_date": str(env.today), "own_words": "x"},
        PAYOKE,
        expect=422,
    )
    assert refused["field"] == "person_id"
    async with env.svc.runtime.pool.acquire() as conn:
        reads = await conn.fetch("SELECT what, purpose FROM personal_data_reads WHERE person_id = $1", person_id)
    assert [r["what"] for r in reads] == ["track.session-notes", "track.session-notes", "track.goal-words"]


async def test_track_events_are_published_on_the_tracks_topic_keyed_by_case_without_clear_text(env):
    case_id, _ = await env.open_case()
    await set_goal(env, case_id, "administrative", "a work permit of my own")
    await env.svc.runtime.relay.drain()
    mine = [
        r
        for r in await read_topic(env.svc.runtime.endpoints.bootstrap, "tracks.events.v1")
        if r.key == case_id.encode()
    ]
    # At least once: a copy may be published twice; the event ids tell copies apart.
    published = {headers_of(r)["event_id"]: headers_of(r)["event_type"] for r in mine}
    assert sorted(published.values()) == ["GoalSet", "TrackOpened"]
    assert all(b"work permit" not in r.value for r in mine)


async def test_a_caseload_lists_open_tracks_and_goals_by_area_for_the_callers_centre_only(env):
    case_id, _ = await env.open_case(actor=Actor(PAYOKE, "caseworker", "cw-caseload"))
    await set_goal(env, case_id, "housing")
    await set_goal(env, case_id, "juridical")
    await env.from_housing(case_id, PersonMoved(case_id=case_id, to=HousingKind.INDEPENDENT, on=env.today))
    await env.wait_for(case_id, "GoalFlaggedForReview")
    caseload = await env.get("/caseload", PAYOKE, user="cw-caseload")
    assert [(t["case_id"], t["flagged_goals"]) for t in caseload["items"]] == [(case_id, 1)]
    assert caseload["goals_by_area"] == {"housing": {"planned": 1}, "juridical": {"planned": 1}}
    assert (await env.get("/caseload", SURYA, user="cw-caseload"))["items"] == []
    await env.get("/caseload?caseworker_id=someone-else", PAYOKE, user="cw-caseload", expect=403)


async def test_walking_a_caseload_two_at_a_time_reads_each_track_once_in_order_with_tracks_opened_between_pages(
    env,
):
    worker = f"cw-walk-{uuid.uuid4().hex[:6]}"  # a caseload of this test's tracks only

    async def opened() -> str:
        case_id, _ = await env.open_case(actor=Actor(PAYOKE, "caseworker", worker))
        return case_id

    def key(track: dict) -> tuple[str, str]:
        return track["next_review_due"] or "~", track["case_id"]  # no review due sorts last

    async def page_of(query: str) -> dict:
        return await env.get(f"/caseload?{query}", PAYOKE, user=worker)

    for _ in range(5):
        await opened()
    before = {key(t) for t in (await page_of("limit=500"))["items"]}
    assert len(before) == 5
    walked: list[tuple[str, str]] = []
    ahead: set[tuple[str, str]] = set()
    behind: set[tuple[str, str]] = set()
    gaps = 0
    page = await page_of("limit=2")
    while True:
        assert len(page["items"]) <= 2 and page["overdue_reviews"] == 0
        walked += [key(t) for t in page["items"]]
        if page["next"] is None:
            break
        if gaps < 3:  # a track opened between pages; case ids are random, so either side of the cursor
            new = await opened()
            [track] = [t for t in (await page_of("limit=500"))["items"] if t["case_id"] == new]
            (ahead if key(track) > key(page["items"][-1]) else behind).add(key(track))
        gaps += 1
        page = await page_of(f"limit=2&after={page['next']}")
    assert len(walked) == len(set(walked))  # none read twice
    assert walked == sorted(walked)  # in the endpoint's order: next review due, then case id
    assert before | ahead == set(walked)  # none lost: every one there at the start, and every later one
    assert not behind & set(walked)  # ahead of the cursor; one behind it belongs to a page already read
    assert len(walked) == 5 + len(ahead)  # counted: the five and those opened ahead of the cursor, no other
    assert len(ahead) + len(behind) == min(gaps, 3) >= 2  # the walk did meet tracks opened while it went


@pytest.mark.parametrize("query, field", [("limit=0", "limit"), ("limit=501", "limit"), ("after=AAAA", "after"),
                                          ("after=not%20a%20cursor", "after"), ("after=" + "A" * 301, "after"),
                                          ("after=WyJub3QtYS1kYXkiLCJjYXNlIl0=", "after")])  # fmt: skip
async def test_a_caseload_page_out_of_bounds_or_a_forged_cursor_is_refused_naming_the_field(env, query, field):
    # The last cursor is base64url of ["not-a-day","case"]: well formed, but not a key the service gave.
    problem = await env.get(f"/caseload?{query}", PAYOKE, expect=422)
    assert field in [e["field"] for e in problem["errors"]], problem


async def test_walking_a_timeline_two_at_a_time_reads_each_entry_once_in_order_with_sessions_recorded_between_pages(
    env,
):
    case_id, _ = await env.open_case()

    async def session() -> None:
        body = {"session_id": f"s-{uuid.uuid4().hex[:8]}", "held_on": str(env.today), "area": "housing",
                "kind": "phone", "duration_minutes": 10, "attended": True}  # fmt: skip
        await env.post(f"/tracks/{case_id}/sessions", body, PAYOKE, expect=201)

    for _ in range(4):
        await session()
    walked: list[int] = []
    gaps = 0
    page = await env.get(f"/tracks/{case_id}/timeline?limit=2", PAYOKE)
    while True:
        assert len(page["items"]) <= 2
        walked += [e["version"] for e in page["items"]]
        if page["next"] is None:
            break
        if gaps < 3:  # recorded between pages: always after the cursor, so on a later page
            await session()
        gaps += 1
        page = await env.get(f"/tracks/{case_id}/timeline?limit=2&after={page['next']}", PAYOKE)
    whole = await env.get(f"/tracks/{case_id}/timeline?limit=500", PAYOKE)
    assert whole["next"] is None and len(whole["items"]) == 1 + 4 + 3  # opened, four sessions, three more
    assert walked == [e["version"] for e in whole["items"]] == sorted(set(walked))  # each once, in order


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "after=AAAA", "after=WyJ4Il0=", "after=" + "A" * 101])
async def test_a_timeline_page_out_of_bounds_or_a_forged_cursor_is_refused_naming_the_field(env, query):
    # Refused before any track is looked up: no case is needed.
    problem = await env.get(f"/tracks/case-none/timeline?{query}", PAYOKE, expect=422)
    assert query.partition("=")[0] in [e["field"] for e in problem["errors"]], problem


async def _incoming_page(env, query: str) -> dict:
    return await env.get(f"/transfers/incoming?{query}", PAG_ASA, "manager")


async def test_walking_the_incoming_transfers_two_at_a_time_reads_each_once_in_order_with_requests_between_pages(
    env,
):
    async def request() -> str:
        case_id, _ = await env.open_case()
        await env.post(f"/tracks/{case_id}/transfer", {"to_centre": PAG_ASA, "reason": "language"}, PAYOKE, "manager")
        return case_id

    mine = {await request() for _ in range(5)}
    before = [t["case_id"] for t in (await _incoming_page(env, "limit=500"))["items"] if t["case_id"] in mine]
    assert len(before) == 5
    walked: list[str] = []
    ahead: set[str] = set()
    behind: set[str] = set()
    gaps = 0
    page = await _incoming_page(env, "limit=2")
    while True:
        walked += [t["case_id"] for t in page["items"] if t["case_id"] in mine]
        if page["next"] is None:
            break
        if gaps < 3:  # a request arriving between pages; case ids are random, so either side of the cursor
            new = await request()
            mine.add(new)
            (ahead if new > page["items"][-1]["case_id"] else behind).add(new)
        gaps += 1
        page = await _incoming_page(env, f"limit=2&after={page['next']}")
    assert len(walked) == len(set(walked))  # none read twice
    assert walked == sorted(walked)  # in the endpoint's order, by case id
    assert set(before) | ahead == set(walked)  # none lost: every one there at the start, and every later one
    assert not behind & set(walked)  # ahead of the cursor; one behind it belongs to a page already read


@pytest.mark.parametrize("query, field", [("limit=0", "limit"), ("limit=501", "limit"), ("after=AAAA", "after"),
                                          ("after=not%20a%20cursor", "after"),
                                          ("after=" + "A" * 201, "after")])  # fmt: skip
async def test_an_incoming_transfers_page_out_of_bounds_or_a_forged_cursor_is_refused_naming_the_field(
    env, query, field
):
    problem = await env.get(f"/transfers/incoming?{query}", PAG_ASA, "manager", expect=422)
    assert field in [e["field"] for e in problem["errors"]], problem
