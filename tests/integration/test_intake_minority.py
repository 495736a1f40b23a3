"""Minority as a case fact in intake: established or disproved at any time, of a kind, reaching the Guardianship
Service and the case's audiences; and intake's dates on the Brussels day, plausible or refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from harbour.clock import ManualClock
from milestones.case_audiences import load_facts
from services.intake.app import DEFINITION
from tests.support.harness import running_service
from tests.support.intake_flow import IntakeClient, clock

GUARDIANSHIP = ("guardianship-service", "caseworker")


@pytest.fixture(scope="module")
async def intake(pg_server_url: str, broker) -> AsyncIterator[IntakeClient]:
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=broker.bootstrap,
                               clock=clock(), background=False) as service:  # fmt: skip
        yield IntakeClient(service)


async def case_events(intake: IntakeClient, case_id: str) -> list[str]:
    history = await intake.client.get(f"/cases/{case_id}/history", headers=intake.centre())
    return [e["event_type"] for e in history.json()["items"]]


async def minor_fact(intake: IntakeClient, case_id: str) -> bool:
    async with intake.service.runtime.pool.acquire() as conn:
        facts = await load_facts(conn, case_id)
    assert facts is not None
    return facts[1].minor


async def test_a_minority_established_after_admission_is_a_case_fact_and_refers_the_minor_to_guardianship(intake):
    case_id = (await intake.referral_at("admitted"))["case_id"]
    assert not await minor_fact(intake, case_id)
    view = await intake.command(f"/cases/{case_id}/minority", {"kind": "unaccompanied", "basis": "age-assessment"})
    assert (view["minor"], view["minority"]) == (True, "unaccompanied")
    assert (await case_events(intake, case_id))[-2:] == ["MinorityEstablished", "GuardianshipReferralRequested"]
    assert await minor_fact(intake, case_id)
    disproved = await intake.command(f"/cases/{case_id}/minority/disproved", {"basis": "identity-document"})
    assert (disproved["minor"], disproved["minority"]) == (False, None)
    assert not await minor_fact(intake, case_id)
    assert (await case_events(intake, case_id)).count("GuardianshipReferralRequested") == 1


async def test_an_accompanied_minor_is_expressible_at_admission_without_changing_what_case_opened_means(intake):
    view = await intake.referral_at("consented")
    await intake.command(f"/referrals/{view['referral_id']}/minor", {"reason": "declared-age", "kind": "accompanied"})
    case = await intake.command(f"/referrals/{view['referral_id']}/admission", {"eu_citizen": False}, status=201)
    events = await intake.service.runtime.store.read_stream(f"referral-{view['referral_id']}")
    opened = [e.event for e in events if e.event_type == "CaseOpened"]
    assert len(opened) == 1 and opened[0].minor is False  # CaseOpened.minor: an unaccompanied minor, as ever
    # Both in the admission's one append: a consumer of CaseOpened learns the minority from the same transaction.
    same_tx = [e.event_type for e in events if e.tx_id == next(x.tx_id for x in events if x.event_type == "CaseOpened")]
    assert same_tx == ["CaseOpened", "MinorityEstablished"]
    assert (case["minor"], case["minority"]) == (True, "accompanied")
    assert await minor_fact(intake, case["case_id"])
    # Found to be alone: established again as unaccompanied, and referred again (a guardian is now due).
    await intake.command(
        f"/cases/{case['case_id']}/minority", {"kind": "unaccompanied", "basis": "caseworker-assessment"}
    )
    kinds = [e.event.kind for e in await intake.service.runtime.store.read_stream(f"referral-{view['referral_id']}")
             if e.event_type == "GuardianshipReferralRequested"]  # fmt: skip
    assert kinds == ["accompanied", "unaccompanied"]


async def test_contradictory_and_repeated_minority_commands_are_refused_naming_the_field(intake):
    case_id = (await intake.referral_at("admitted"))["case_id"]
    nothing = await intake.command(f"/cases/{case_id}/minority/disproved", {"basis": "age-assessment"}, status=422)
    assert nothing["field"] == "minority"
    await intake.command(f"/cases/{case_id}/minority", {"kind": "accompanied", "basis": "declared-age"})
    again = await intake.command(f"/cases/{case_id}/minority", {"kind": "accompanied", "basis": "age-assessment"},
                                 status=422)  # fmt: skip
    assert again["field"] == "kind"
    assert (await case_events(intake, case_id)).count("MinorityEstablished") == 1


async def test_the_guardianship_service_records_its_age_determination_on_a_case_referred_to_it_only(intake):
    case_id = (await intake.referral_at("admitted"))["case_id"]
    headers = intake.auth(*GUARDIANSHIP)
    body = {"kind": "unaccompanied", "basis": "age-assessment"}
    assert (await intake.client.post(f"/cases/{case_id}/minority", json=body, headers=headers)).status_code == 404
    await intake.command(f"/cases/{case_id}/minority", {"kind": "unaccompanied", "basis": "declared-age"})
    declared = await intake.client.post(f"/cases/{case_id}/minority/disproved", json={"basis": "identity-document"},
                                        headers=headers)  # fmt: skip
    assert declared.status_code == 422 and declared.json()["field"] == "basis"
    assessed = await intake.client.post(f"/cases/{case_id}/minority/disproved", json={"basis": "age-assessment"},
                                        headers=headers)  # fmt: skip
    assert assessed.status_code == 200, assessed.text
    assert assessed.json()["minority"] is None
    assert (await case_events(intake, case_id)).count("MinorityDisproved") == 1


@pytest.mark.parametrize("body", [
    {"kind": "unaccompanied", "basis": "age-assessment", "on": "2026-01-06"},
    {"kind": "unaccompanied", "basis": "age-assessment", "on": "2025-12-31"},
])  # fmt: skip
async def test_an_implausible_minority_date_is_refused_naming_the_field_and_the_rule(intake, body):
    case_id = (await intake.referral_at("admitted"))["case_id"]
    refused = await intake.command(f"/cases/{case_id}/minority", body, status=422)
    assert refused["field"] == "on"
    assert refused["rule"] in {"minority-established-not-in-future", "minority-established-not-before-case"}
    assert "MinorityEstablished" not in await case_events(intake, case_id)


async def test_a_disproval_before_the_minority_was_established_is_refused(intake):
    case_id = (await intake.referral_at("admitted"))["case_id"]
    await intake.command(f"/cases/{case_id}/minority", {"kind": "unaccompanied", "basis": "declared-age"})
    # Same day is fine; the day before the case opened is not (the establishment was today).
    refused = await intake.command(f"/cases/{case_id}/minority/disproved",
                                   {"basis": "age-assessment", "on": "2026-01-04"}, status=422)  # fmt: skip
    assert (refused["field"], refused["rule"]) == ("on", "minority-disproved-not-before-case")


# ---- one local date --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("utc", "brussels_day"), [
    (datetime(2026, 1, 5, 22, 30, tzinfo=UTC), "2026-01-05"),  # 23:30 in Brussels, winter (UTC+1)
    (datetime(2026, 1, 5, 23, 30, tzinfo=UTC), "2026-01-06"),  # 00:30 in Brussels: UTC still says the 5th
    (datetime(2026, 7, 5, 21, 30, tzinfo=UTC), "2026-07-05"),  # 23:30 in Brussels, summer (UTC+2)
    (datetime(2026, 7, 5, 22, 30, tzinfo=UTC), "2026-07-06"),  # 00:30 in Brussels, summer
])  # fmt: skip
async def test_intake_dates_each_fact_on_the_brussels_day(pg_server_url, broker, utc, brussels_day):
    moment = ManualClock(utc)
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=broker.bootstrap, clock=moment,
                               background=False) as service:  # fmt: skip
        intake = IntakeClient(service)
        case = await intake.referral_at("admitted")
        referral = (await intake.client.get(f"/referrals/{case['referral_id']}", headers=intake.centre())).json()
        minority = await intake.command(f"/cases/{case['case_id']}/minority",
                                        {"kind": "unaccompanied", "basis": "age-assessment"})  # fmt: skip
        events = await service.runtime.store.read_stream(f"referral-{case['referral_id']}")
    assert (referral["submitted_on"], referral["last_interview_on"], case["opened_on"]) == (brussels_day,) * 3
    established = [e.event.established_on.isoformat() for e in events if e.event_type == "MinorityEstablished"]
    assert established == [brussels_day] and minority["opened_on"] == brussels_day
    # A minority dated the Brussels day is today, not "in the future" (as it would be against UTC's day).
