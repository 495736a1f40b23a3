"""Leads: a tip from the public reaches the recognised centre of its region through the real broker, as a lead
that centre alone sees, takes up as a referral of its own or closes with a reason; the centre's milestone topic
says a tip came, with no word of the tipster's.

One signals service (on a real socket, for Debian's chromium) and one intake service with its consumers, on the
module's broker. Adversarial checks count: one lead per tip whatever is redelivered, one referral per lead
whatever is retried or raced, nothing changed by a refused command.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import async_playwright

from milestones import Pseudonyms
from schemas.milestones import Milestone, milestone_topic
from services.intake.app import DEFINITION as INTAKE
from services.signals.app import DEFINITION as SIGNALS
from services.signals.commands import form_tip_id
from services.signals.privacy import LIMIT
from tests.integration.test_docs_pages import debian_chromium
from tests.integration.test_feeds_helpers import served
from tests.support.harness import RunningService, running_service, running_services
from tests.support.intake_flow import PAG_ASA, PAYOKE, POLICE, IntakeClient
from tests.support.kafka import read_topic
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
SURYA = "centre-surya"
TWO = ["movement-and-control.identity-documents-withheld", "work-and-living-conditions.little-or-no-pay"]
WORDS = "Men sleep in the car wash behind the station"
CONTACT = "+32 470 55 66 77"


@pytest.fixture(scope="module")
async def platform(pg_server_url: str, broker) -> AsyncIterator[dict[str, Any]]:
    starts = {
        "signals": running_service(SIGNALS, pg_server_url=pg_server_url, bootstrap=broker.bootstrap),
        # Both on the real clock: the tip's day and the lead's are the same day.
        "intake": running_service(INTAKE, pg_server_url=pg_server_url, bootstrap=broker.bootstrap),
    }
    async with running_services(starts) as services:
        async with served(services["signals"].app) as url:
            yield {"signals": services["signals"], "intake": IntakeClient(services["intake"]), "url": url,
                   "bootstrap": broker.bootstrap}  # fmt: skip


@pytest.fixture(autouse=True)
def fresh_rate_limit() -> None:
    LIMIT.reset()


def tip_body(postcode: str = "2000", **overrides: Any) -> dict[str, Any]:
    body = {"description": WORDS, "postcode": postcode, "municipality": "Antwerpen", "seen_on": "2026-01-02",
            "exploitation_types": ["labour-exploitation"], "signal_ids": TWO, "callback": CONTACT}  # fmt: skip
    return {**body, **overrides}


async def send_tip(platform: dict[str, Any], **overrides: Any) -> str:
    signals: RunningService = platform["signals"]
    response = await signals.client.post("/tips", json=tip_body(**overrides),
                                         headers={"Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
    assert response.status_code in (200, 201), response.text
    return str(response.json()["tip_id"])


async def lead_of(platform: dict[str, Any], lead_id: str, centre: str = PAYOKE) -> dict[str, Any]:
    """The lead as its centre reads it, once intake's consumer made it."""
    intake: IntakeClient = platform["intake"]

    async def arrived() -> bool:
        response = await intake.client.get(f"/leads/{lead_id}", headers=intake.centre(centre))
        return response.status_code == 200

    await wait_until(arrived, timeout=30)
    response = await intake.client.get(f"/leads/{lead_id}", headers=intake.centre(centre))
    return dict(response.json())


async def count(service: RunningService, sql: str, *args: Any) -> int:
    async with service.runtime.pool.acquire() as conn:
        return int(await conn.fetchval(sql, *args))


async def test_a_tip_sent_from_a_phone_without_javascript_becomes_a_lead_of_the_centre_of_its_region_alone(
    platform,
):
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=debian_chromium(), headless=True)
        try:
            context = await browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 740})
            context.set_default_timeout(15_000)
            page = await context.new_page()
            await page.goto(f"{platform['url']}/tip?lang=nl&signal={TWO[0]}&signal={TWO[1]}", wait_until="load")
            await page.fill("#description", WORDS)
            await page.fill("#postcode", "4000")  # Liège: Wallonia, Sürya's region
            await page.check("#k-forced-begging")
            key = str(await page.get_attribute("input[name=key]", "value"))
            await page.click("main button[type=submit]")
            assert page.url.endswith("/tip/thanks?lang=nl")
        finally:
            await browser.close()
    lead_id = form_tip_id(key)
    lead = await lead_of(platform, lead_id, SURYA)
    assert (lead["centre"], lead["region"], lead["postcode"], lead["status"]) == (SURYA, "wallonia", "4000", "open")
    assert lead["signal_ids"] == sorted(TWO) and lead["exploitation_types"] == ["forced-begging"]
    assert WORDS not in json.dumps(lead) and "Antwerpen" not in json.dumps(lead) and "municipality" not in lead
    intake: IntakeClient = platform["intake"]
    # The other centres: not in their lists, and 404 exactly like an unknown lead.
    for other in (PAYOKE, PAG_ASA):
        listed = await intake.client.get("/leads?status=all", headers=intake.centre(other))
        assert listed.status_code == 200 and lead_id not in {item["lead_id"] for item in listed.json()["items"]}
        mine = await intake.client.get(f"/leads/{lead_id}", headers=intake.centre(other))
        unknown = await intake.client.get("/leads/no-such-lead", headers=intake.centre(other))
        assert (mine.status_code, unknown.status_code) == (404, 404)
        assert mine.json()["detail"].replace(lead_id, "X") == unknown.json()["detail"].replace("no-such-lead", "X")
    listed = await intake.client.get("/leads", headers=intake.centre(SURYA))
    assert lead_id in {item["lead_id"] for item in listed.json()["items"]}
    police = await intake.client.get(f"/leads/{lead_id}", headers=intake.auth(POLICE, "officer"))
    assert police.status_code == 403


async def test_taking_a_lead_up_makes_one_referral_of_the_centres_own_with_the_tipsters_signals(platform):
    lead_id = await send_tip(platform)
    lead = await lead_of(platform, lead_id)
    intake: IntakeClient = platform["intake"]
    added = "movement-and-control.large-debt-to-repay"
    body = {"urgency": ["immediate-danger"], "added_signal_ids": [added], "expected_version": lead["version"]}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = await intake.client.post(f"/leads/{lead_id}/take-up", json=body, headers=intake.centre(PAYOKE) | key)
    assert first.status_code == 201, first.text
    again = await intake.client.post(f"/leads/{lead_id}/take-up", json=body, headers=intake.centre(PAYOKE) | key)
    assert (again.status_code, again.text, again.headers["location"]) == (201, first.text, first.headers["location"])
    taken = first.json()
    assert taken["status"] == "taken-up" and first.headers["location"] == f"/referrals/{taken['referral_id']}"
    referral = await intake.client.get(first.headers["location"], headers=intake.centre(PAYOKE))
    assert referral.status_code == 200
    view = referral.json()
    assert (view["target_centre"], view["referring_organisation_id"], view["region"]) == (PAYOKE, PAYOKE, "flanders")
    assert view["signal_ids"] == sorted([*TWO, added]) and view["urgency"] == ["immediate-danger"]
    assert view["exploitation_types"] == ["labour-exploitation"] and view["person_id"] is None
    # Once taken up, it is decided: neither taken up again (another key) nor closed, and nothing is recorded.
    refused = [await intake.client.post(f"/leads/{lead_id}/take-up", json={}, headers=intake.centre(PAYOKE)),
               await intake.client.post(f"/leads/{lead_id}/closure", json={"reason": "duplicate"},
                                        headers=intake.centre(PAYOKE))]  # fmt: skip
    assert [r.status_code for r in refused] == [422, 422]
    assert {r.json()["field"] for r in refused} == {"status"}
    service = intake.service
    assert await count(service, "SELECT count(*) FROM events WHERE stream_id = $1", f"lead-{lead_id}") == 2
    made = "SELECT count(*) FROM referral_status WHERE referring_org = $1 AND $2 = ANY(signal_ids)"
    assert await count(service, made, PAYOKE, added) == 1


async def test_two_caseworkers_taking_up_one_lead_at_once_make_one_referral(platform):
    lead_id = await send_tip(platform, postcode="1000")  # Brussels: PAG-ASA
    await lead_of(platform, lead_id, PAG_ASA)
    intake: IntakeClient = platform["intake"]
    before = await count(intake.service, "SELECT count(*) FROM referral_status")
    answers = await asyncio.gather(*(
        intake.client.post(f"/leads/{lead_id}/take-up", json={}, headers=intake.centre(PAG_ASA, role))
        for role in ("caseworker", "manager", "caseworker", "manager")
    ))  # fmt: skip
    assert sorted(a.status_code for a in answers) == [201, 422, 422, 422]
    assert await count(intake.service, "SELECT count(*) FROM referral_status") == before + 1
    assert await count(intake.service, "SELECT count(*) FROM events WHERE stream_id = $1", f"lead-{lead_id}") == 2


async def test_closing_a_lead_takes_a_reason_from_the_list_and_a_refused_closure_changes_nothing(platform):
    lead_id = await send_tip(platform)
    lead = await lead_of(platform, lead_id)
    intake: IntakeClient = platform["intake"]
    headers = intake.centre(PAYOKE, "manager")
    bad = [await intake.client.post(f"/leads/{lead_id}/closure", json=body, headers=headers)
           for body in ({"reason": "bored"}, {}, {"reason": "duplicate", "note": "x"},
                        {"reason": "duplicate", "expected_version": lead["version"] + 5})]  # fmt: skip
    assert [r.status_code for r in bad] == [422, 422, 422, 409]
    assert bad[0].json()["field"] == "reason"
    assert await count(intake.service, "SELECT count(*) FROM events WHERE stream_id = $1", f"lead-{lead_id}") == 1
    closed = await intake.client.post(
        f"/leads/{lead_id}/closure",
        headers=headers,
        json={"reason": "passed-to-police", "expected_version": lead["version"]},
    )
    assert closed.status_code == 200, closed.text
    assert (closed.json()["status"], closed.json()["close_reason"]) == ("closed", "passed-to-police")
    open_ids = {i["lead_id"] for i in (await intake.client.get("/leads", headers=headers)).json()["items"]}
    closed_ids = {i["lead_id"] for i in
                  (await intake.client.get("/leads?status=closed", headers=headers)).json()["items"]}  # fmt: skip
    assert lead_id not in open_ids and lead_id in closed_ids


async def test_a_tip_delivered_again_and_again_makes_one_lead(platform):
    lead_id = await send_tip(platform, postcode="8000")  # Bruges: Flanders, Payoke
    await lead_of(platform, lead_id)
    records = [r for r in await read_topic(platform["bootstrap"], "signals.events.v1") if r.key == lead_id.encode()]
    assert len(records) == 1
    # Redelivered as a producer that lost its acknowledgement would send it: the same record, three more times.
    producer = AIOKafkaProducer(bootstrap_servers=platform["bootstrap"])
    await producer.start()
    try:
        for _ in range(3):
            await producer.send_and_wait("signals.events.v1", records[0].value, key=records[0].key,
                                         headers=list(records[0].headers))  # fmt: skip
    finally:
        await producer.stop()
    intake: IntakeClient = platform["intake"]
    marker = await send_tip(platform, postcode="8000")  # after the copies on the same topic: once it is a lead,
    await lead_of(platform, marker)  # the consumer has read past them
    assert await count(intake.service, "SELECT count(*) FROM events WHERE stream_id = $1", f"lead-{lead_id}") == 1
    assert await count(intake.service, "SELECT count(*) FROM leads WHERE lead_id = $1", lead_id) == 1


async def test_the_centre_hears_a_tip_came_as_a_milestone_with_no_word_of_the_tipsters(platform):
    lead_id = await send_tip(platform)
    lead = await lead_of(platform, lead_id)
    intake: IntakeClient = platform["intake"]
    ref = Pseudonyms.from_settings(intake.service.settings).case_ref(PAYOKE, lead_id)

    async def received() -> list[Milestone]:
        records = await read_topic(platform["bootstrap"], milestone_topic(PAYOKE))
        found = [Milestone.model_validate_json(r.value) for r in records if r.key == ref.encode()]
        return [m for m in found if m.milestone.value == "tip-received"]

    async def arrived() -> bool:
        return bool(await received())

    await wait_until(arrived, timeout=30)
    (milestone,) = await received()
    assert milestone.data == {"received_on": lead["received_on"], "region": "flanders", "seen_on": "2026-01-02",
                              "signal_count": 2}  # fmt: skip
    assert milestone.case_ref != lead_id and lead_id not in milestone.model_dump_json()
    # No other audience hears of it (under its own reference for this lead); no audience topic holds the
    # tipster's words, contact or place.
    refs = Pseudonyms.from_settings(intake.service.settings)
    for audience in (PAG_ASA, SURYA, POLICE):
        records = await read_topic(platform["bootstrap"], milestone_topic(audience))
        assert not [r for r in records if r.key == refs.case_ref(audience, lead_id).encode()], audience
    for record in await read_topic(platform["bootstrap"], milestone_topic(PAYOKE)):
        text = (record.value or b"").decode()
        assert not [s for s in (WORDS, CONTACT, "Antwerpen", '"2000"', lead_id) if s in text]
