"""The intake API against the real PostgreSQL: every rule, idempotent submission, 422 naming the field, 409."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.intake.app import DEFINITION
from tests.support.harness import running_service
from tests.support.intake_flow import (
    CIRCUMSTANCES,
    OTHER_POLICE,
    PAG_ASA,
    PAYOKE,
    PERSON,
    POLICE,
    IntakeClient,
    clock,
)

PURPOSE = {"Harbour-Purpose": "preparing the intake file"}


@pytest.fixture(scope="module")
async def intake(pg_server_url: str, broker) -> AsyncIterator[IntakeClient]:
    # One service for the module; no relay or consumers: these tests are about the API and the store.
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=broker.bootstrap,
                               clock=clock(), background=False) as service:  # fmt: skip
        yield IntakeClient(service)


async def submitted_events(intake: IntakeClient, referral_id: str) -> list[str]:
    return [e.event_type for e in await intake.service.runtime.store.read_stream(f"referral-{referral_id}")]


# --- submission -------------------------------------------------------------------------------------------


async def test_a_police_referral_is_acknowledged_with_the_screening_of_its_own_checklist(intake):
    view = await intake.refer()
    assert view["status"] == "submitted" and view["referring_organisation_id"] == POLICE
    assert view["referrer_screening"]["recommendation"] == "take-in"
    assert view["referrer_screening"]["signal_count"] == 2
    assert "circumstances" not in view and "signal_ids" not in view  # the referrer's view is a status
    assert await submitted_events(intake, view["referral_id"]) == ["ReferralSubmitted"]


async def test_a_referral_with_the_persons_details_records_them_sealed(intake):
    view = await intake.refer(person=PERSON)
    # The referral's coarse profile with them (sex, date of birth and nationality given): bands, nothing sealed.
    assert await submitted_events(intake, view["referral_id"]) == ["ReferralSubmitted", "IdentityCaptured",
                                                                   "CaseProfiled"]  # fmt: skip
    [_, captured, _] = await intake.service.runtime.store.read_stream(f"referral-{view['referral_id']}")
    assert set(captured.payload["names"]) == {"person_id", "key_version", "nonce", "ciphertext"}
    assert PERSON["names"] not in str(captured.payload)


async def test_a_repeated_submission_with_the_same_idempotency_key_returns_the_first_referral(intake):
    key = {"Idempotency-Key": "police-federal-2026-0001"}
    first = await intake.refer(headers=key)
    again = await intake.client.post("/referrals", json=intake.referral_body(),
                                     headers={**intake.auth(POLICE, "officer"), **key})  # fmt: skip
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["referral_id"] == first["referral_id"]
    assert again.headers["Location"] == f"/referrals/{first['referral_id']}"
    async with intake.service.runtime.pool.acquire() as conn:
        count = await conn.fetchval("SELECT count(*) FROM referral_status WHERE referrer_file_number = $1 AND "
                                    "referral_id = $2", "AN.12.L1.004567/26", first["referral_id"])  # fmt: skip
    assert count == 1


async def test_concurrent_submissions_with_one_idempotency_key_make_one_referral(intake):
    headers = {**intake.auth(POLICE, "officer"), "Idempotency-Key": "race-0001"}
    # Four: one caller's share of requests in progress (HARBOUR_MAX_IN_FLIGHT_PER_CALLER); a fifth would be shed.
    answers = await asyncio.gather(*(intake.client.post("/referrals", json=intake.referral_body(), headers=headers)
                                     for _ in range(4)))  # fmt: skip
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["referral_id"] for a in answers}) == 1
    assert len({a.content for a in answers}) == 1  # one answer, byte for byte


async def test_an_idempotency_key_reused_for_another_referral_is_refused(intake):
    headers = {**intake.auth(POLICE, "officer"), "Idempotency-Key": "reuse-0001"}
    await intake.client.post("/referrals", json=intake.referral_body(), headers=headers)
    other = await intake.client.post("/referrals", json=intake.referral_body(region="wallonia"), headers=headers)
    assert other.status_code == 422 and other.json()["field"] == "Idempotency-Key"


async def test_the_same_key_from_another_organisation_is_another_referral(intake):
    key = {"Idempotency-Key": "shared-0001"}
    mine = await intake.refer(headers=key)
    theirs = await intake.refer(by=OTHER_POLICE, headers=key)
    assert mine["referral_id"] != theirs["referral_id"]


@pytest.mark.parametrize(
    ("change", "headers", "field"),
    [
        ({"signal_ids": ["not-a-signal"]}, {}, "signal_ids"),
        ({"region": "atlantis"}, {}, "region"),
        ({"target_centre": "centre-elsewhere"}, {}, "target_centre"),
        ({"referrer_file_number": "Ilvaneth's file <script>"}, {}, "referrer_file_number"),
        ({"exploitation_types": ["smuggling"]}, {}, "exploitation_types.0"),
        ({"colour": "red"}, {}, "colour"),
        ({"person": {"date_of_birth": "2031-01-01"}}, {}, "person.date_of_birth"),
        ({"person": {"nationality": "Nigeria"}}, {}, "person.nationality"),
        ({"person": {"nationality": "UK"}}, {}, "person.nationality"),  # two capitals, but no ISO country
        ({"person": {"sex": "f"}}, {}, "person.sex"),
        ({"person": {"eye_colour": "brown"}}, {}, "person.eye_colour"),
        ({}, {"Idempotency-Key": "has spaces"}, "Idempotency-Key"),
    ],
)
async def test_a_bad_referral_is_a_422_naming_the_field_and_stores_nothing(intake, change, headers, field):
    before = await intake.service.runtime.store.count()
    response = await intake.client.post("/referrals", json=intake.referral_body(**change),
                                        headers={**intake.auth(POLICE, "officer"), **headers})  # fmt: skip
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field
    assert "Ilvaneth" not in response.text  # a problem document never echoes the input
    assert await intake.service.runtime.store.count() == before


# --- the centre's decision and the referrer's view ----------------------------------------------------


async def test_the_centre_sees_the_whole_referral_and_the_referrer_sees_its_decision(intake):
    rid = (await intake.referral_at("screened"))["referral_id"]
    centre_view = (await intake.client.get(f"/referrals/{rid}", headers=intake.centre())).json()
    assert centre_view["signal_ids"] and centre_view["screened"] and centre_view["person_id"]
    await intake.command(f"/referrals/{rid}/decision", {"decision": "decline", "decline_reason": "outside-mandate"})
    police_view = (await intake.client.get(f"/referrals/{rid}", headers=intake.auth(POLICE, "officer"))).json()
    assert police_view["status"] == "declined"
    assert police_view["decision"] == {"decision": "declined", "decided_on": "2026-01-05",
                                       "decline_reason": "outside-mandate", "redirected_to": None,
                                       "redirect_reason": None}  # fmt: skip
    assert "person_id" not in police_view and "signal_ids" not in police_view


async def test_a_redirect_names_the_receiving_centre_to_the_referrer(intake):
    rid = (await intake.refer())["referral_id"]
    await intake.command(f"/referrals/{rid}/decision",
                         {"decision": "redirect", "redirect_to": PAG_ASA, "redirect_reason": "capacity"})  # fmt: skip
    view = (await intake.client.get(f"/referrals/{rid}", headers=intake.auth(POLICE, "officer"))).json()
    assert view["status"] == "redirected" and view["decision"]["redirected_to"] == PAG_ASA


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decision": "decline"}, "decline_reason"),
        ({"decision": "redirect", "redirect_reason": "capacity"}, "redirect_to"),
        ({"decision": "redirect", "redirect_to": PAG_ASA}, "redirect_reason"),
        ({"decision": "redirect", "redirect_to": PAYOKE, "redirect_reason": "capacity"}, "to_centre"),
        ({"decision": "maybe"}, "decision"),
        ({"decision": "accept"}, "screening"),  # a referral is screened before it is accepted
    ],
)
async def test_an_incomplete_decision_is_a_422_naming_the_field(intake, body, field):
    rid = (await intake.refer())["referral_id"]
    answer = await intake.command(f"/referrals/{rid}/decision", body, status=422)
    assert answer["field"] == field


async def test_a_declined_referral_cannot_be_admitted_and_nobody_is_admitted_twice(intake):
    rid = (await intake.referral_at("screened"))["referral_id"]
    await intake.command(f"/referrals/{rid}/decision", {"decision": "decline", "decline_reason": "person-unreachable"})
    refused = await intake.command(f"/referrals/{rid}/admission", {"eu_citizen": False}, status=422)
    assert refused["field"] == "status"
    admitted = await intake.referral_at("admitted")
    again = await intake.command(f"/referrals/{admitted['referral_id']}/admission", {"eu_citizen": False},
                                 status=422)  # fmt: skip
    assert again["field"] == "status" and "already admitted" in again["detail"]


async def test_admission_needs_consent_to_guidance_and_a_withdrawn_consent_counts_as_none(intake):
    rid = (await intake.referral_at("consented"))["referral_id"]
    await intake.command(f"/referrals/{rid}/consents/guidance/withdrawal")
    refused = await intake.command(f"/referrals/{rid}/admission", {"eu_citizen": False}, status=422)
    assert refused["field"] == "consent"
    bad_scope = await intake.command(f"/referrals/{rid}/consents/everything/withdrawal", status=422)
    assert bad_scope["field"] == "scope"


async def test_a_stale_expected_version_is_a_409_and_changes_nothing(intake):
    view = await intake.referral_at("accepted")
    rid, version = view["referral_id"], view["version"]
    await intake.command(f"/referrals/{rid}/interviews", {"expected_version": version})
    stale = await intake.command(f"/referrals/{rid}/interviews", {"expected_version": version}, status=409)
    assert stale["type"].endswith("version-conflict")
    assert (await submitted_events(intake, rid)).count("IntakeInterviewHeld") == 1


async def test_an_interview_cannot_be_recorded_ahead_of_time(intake):
    rid = (await intake.referral_at("accepted"))["referral_id"]
    answer = await intake.command(f"/referrals/{rid}/interviews", {"held_on": "2026-02-01"}, status=422)
    assert answer["field"] == "held_on"


async def test_flagging_a_minor_requests_a_guardianship_referral_and_marks_the_case(intake):
    view = await intake.referral_at("admitted")
    await intake.command(f"/referrals/{view['referral_id']}/minor", {"reason": "declared-age"})
    events = await submitted_events(intake, view["referral_id"])
    assert events[-2:] == ["MinorFlagged", "GuardianshipReferralRequested"]
    case = (await intake.client.get(f"/cases/{view['case_id']}", headers=intake.centre())).json()
    assert case["minor"] is True


# --- identity, the audited read, the case list -------------------------------------------------------------


async def test_identity_is_captured_sealed_never_echoed_and_opened_only_in_an_audited_read(intake):
    view = await intake.referral_at("accepted", circumstances=None)
    rid = view["referral_id"]
    captured = await intake.command(f"/referrals/{rid}/identity", {"names": PERSON["names"], "languages": ["ar"]})
    assert PERSON["names"] not in str(captured)
    person_id = captured["person_id"]
    read = await intake.client.get(f"/persons/{person_id}", headers={**intake.centre(), **PURPOSE})
    assert read.status_code == 200, read.text
    assert read.json()["identity"] == {"names": PERSON["names"], "languages": ["ar"]}
    assert read.json()["circumstances"] is None
    reads = (await intake.client.get(f"/persons/{person_id}/reads", headers=intake.centre(role="manager"))).json()
    assert reads["next"] is None  # one page holds them all: none is left unread
    assert [(r["org"], r["role"], r["what"], r["purpose"]) for r in reads["items"]] == [
        (PAYOKE, "caseworker", "languages,names", PURPOSE["Harbour-Purpose"])
    ]


async def test_a_person_read_without_a_purpose_is_refused_and_not_audited(intake):
    view = await intake.referral_at("submitted")
    read = await intake.client.get(f"/persons/{view['person_id']}", headers=intake.centre())
    assert read.status_code == 422 and read.json()["field"] == "Harbour-Purpose"
    reads = (await intake.client.get(f"/persons/{view['person_id']}/reads",
                                     headers=intake.centre(role="manager"))).json()  # fmt: skip
    assert reads == {"items": [], "next": None}


async def test_walking_a_persons_reads_two_at_a_time_reads_each_once_in_order_with_reads_recorded_between_pages(
    intake,
):
    view = await intake.referral_at("submitted")
    pid = view["person_id"]

    async def read_person() -> None:
        assert (await intake.client.get(f"/persons/{pid}", headers={**intake.centre(), **PURPOSE})).status_code == 200

    async def page_of(query: str) -> dict:
        response = await intake.client.get(f"/persons/{pid}/reads?{query}", headers=intake.centre(role="manager"))
        assert response.status_code == 200, response.text
        return response.json()

    for _ in range(5):
        await read_person()
    walked: list[int] = []
    gaps = 0
    page = await page_of("limit=2")
    while True:
        walked += [r["id"] for r in page["items"]]
        if page["next"] is None:
            break
        if gaps < 3:  # a read recorded between pages: always after the cursor, so on a later page
            await read_person()
        gaps += 1
        page = await page_of(f"limit=2&after={page['next']}")
    everything = (await page_of("limit=500"))["items"]
    assert len(walked) == len(set(walked)) == 5 + 3 == len(everything)  # counted: none lost, none read twice
    assert walked == sorted(walked) == [r["id"] for r in everything]  # oldest first, as recorded


@pytest.mark.parametrize("query, field", [("limit=0", "limit"), ("limit=501", "limit"), ("after=AAAA", "after"),
                                          ("after=not%20a%20cursor", "after"), ("after=" + "A" * 101, "after"),
                                          ("after=WyIxIl0=", "after"),
                                          ("after=WzkyMjMzNzIwMzY4NTQ3NzU4MDhd", "after")])  # fmt: skip
async def test_a_reads_page_out_of_bounds_or_a_forged_cursor_is_refused_naming_the_field(intake, query, field):
    # base64url of ["1"] (a text where the id goes) and of [9223372036854775808] (past bigint).
    view = await intake.referral_at("submitted")
    response = await intake.client.get(f"/persons/{view['person_id']}/reads?{query}",
                                       headers=intake.centre(role="manager"))  # fmt: skip
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]], response.text


async def test_walking_a_case_history_two_at_a_time_reads_each_fact_once_in_order_with_facts_recorded_between_pages(
    intake,
):
    view = await intake.referral_at("admitted")
    rid, cid = view["referral_id"], view["case_id"]

    async def page_of(query: str) -> dict:
        response = await intake.client.get(f"/cases/{cid}/history?{query}", headers=intake.centre())
        assert response.status_code == 200, response.text
        return response.json()

    before = len((await page_of("limit=500"))["items"])
    walked: list[str] = []
    gaps = 0
    page = await page_of("limit=2")
    while True:
        walked += [e["event_id"] for e in page["items"]]
        if page["next"] is None:
            break
        if gaps < 3:  # a fact recorded between pages: always after the cursor, so on a later page
            await intake.command(f"/referrals/{rid}/identity", {"languages": [["ar", "fr", "nl"][gaps]]})
        gaps += 1
        page = await page_of(f"limit=2&after={page['next']}")
    whole = await page_of("limit=500")
    assert whole["next"] is None and len(whole["items"]) == before + 3  # counted: three more facts, no other
    assert walked == [e["event_id"] for e in whole["items"]] and len(set(walked)) == len(walked)  # each once


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "after=AAAA", "after=WyJ4Il0=", "after=" + "A" * 101])
async def test_a_case_history_page_out_of_bounds_or_a_forged_cursor_is_refused_naming_the_field(intake, query):
    response = await intake.client.get(f"/cases/case-none/history?{query}", headers=intake.centre())
    assert response.status_code == 422, response.text
    assert query.partition("=")[0] in [e["field"] for e in response.json()["errors"]], response.text


async def test_the_referrers_circumstances_are_read_back_by_the_centre(intake):
    view = await intake.referral_at("submitted")
    read = await intake.client.get(f"/persons/{view['person_id']}", headers={**intake.centre(), **PURPOSE})
    assert read.json()["circumstances"] == CIRCUMSTANCES


async def test_an_empty_identity_or_a_bad_field_is_a_422_naming_it(intake):
    rid = (await intake.referral_at("accepted"))["referral_id"]
    assert (await intake.command(f"/referrals/{rid}/identity", {}, status=422))["field"] == "identity"
    bad = await intake.command(f"/referrals/{rid}/identity", {"phone": "call me maybe"}, status=422)
    assert bad["field"] == "phone"


async def test_sex_is_captured_sealed_read_back_in_the_audited_read_and_only_its_band_goes_into_the_profile(intake):
    view = await intake.referral_at("accepted", circumstances=None)
    rid = view["referral_id"]
    captured = await intake.command(f"/referrals/{rid}/identity", {"sex": "male", "date_of_birth": "2012-02-01",
                                                                   "nationality": "AF"})  # fmt: skip
    read = await intake.client.get(f"/persons/{captured['person_id']}", headers={**intake.centre(), **PURPOSE})
    assert read.json()["identity"] == {"sex": "male", "date_of_birth": "2012-02-01", "nationality": "AF"}
    [identity, profile] = [e for e in await intake.service.runtime.store.read_stream(f"referral-{rid}")
                           if e.event_type in ("IdentityCaptured", "CaseProfiled")]  # fmt: skip
    assert identity.event.sex is not None and "male" not in identity.event.model_dump_json()  # sealed
    assert (profile.event.sex, profile.event.age_band, profile.event.citizenship, profile.event.world_region) == (
        "male", "12-17", "non-eu", "asia")  # fmt: skip
    assert "2012" not in profile.event.model_dump_json() and "AF" not in profile.event.model_dump_json()


async def test_the_case_list_pages_through_the_centres_own_cases_only(intake):
    mine = [(await intake.referral_at("admitted"))["case_id"] for _ in range(3)]
    theirs = (await intake.referral_at("admitted", target_centre=PAG_ASA))["case_id"]
    seen: list[str] = []
    after = 0
    while True:
        page = (await intake.client.get("/cases", params={"after": after, "limit": 2},
                                        headers=intake.centre())).json()  # fmt: skip
        seen += [c["case_id"] for c in page["items"]]
        assert all(c["centre"] == PAYOKE for c in page["items"])
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert seen[-3:] == mine and len(seen) == len(set(seen))
    other = (await intake.client.get("/cases", headers=intake.centre(PAG_ASA))).json()
    assert theirs in {c["case_id"] for c in other["items"]}
    assert not set(mine) & {c["case_id"] for c in other["items"]}
    assert theirs not in seen
