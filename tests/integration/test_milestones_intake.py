"""Intake's milestones on the real broker: a police referral's receipt and take-up reach the referring police
unit (with its own report number) and the owning centre, each under its own case reference, and no one else."""

from __future__ import annotations

import asyncio
from uuid import uuid5

import pytest

from milestones import Pseudonyms
from milestones.policy import published_audiences
from schemas.milestones import Milestone, milestone_topic
from services.intake.app import DEFINITION
from tests.support.harness import running_service
from tests.support.intake_flow import CLEAR_STRINGS, PAYOKE, PERSON, POLICE, IntakeClient, clock
from tests.support.kafka import headers_of, read_topic
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
REPORT_NUMBER = "AN.12.L1.004567/26"


async def _milestones(bootstrap: str, audience: str, case_ref: str) -> list[Milestone]:
    records = await read_topic(bootstrap, milestone_topic(audience))
    return [Milestone.model_validate_json(r.value) for r in records if r.key == case_ref.encode()]


async def test_a_police_referral_tells_the_police_unit_and_the_centre_and_no_other_audience(
    pg_server_url, running_broker
):
    bootstrap = running_broker.bootstrap
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=bootstrap,
                               clock=clock()) as service:  # fmt: skip
        intake = IntakeClient(service)
        referral = await intake.refer(person=PERSON, referrer_file_number=REPORT_NUMBER)
        rid = referral["referral_id"]
        await intake.command(f"/referrals/{rid}/screening", {})
        await intake.command(f"/referrals/{rid}/decision", {"decision": "accept"})
        refs = Pseudonyms.from_settings(service.settings)
        police_ref, centre_ref = refs.case_ref(POLICE, rid), refs.case_ref(PAYOKE, rid)

        async def both_arrived() -> bool:
            police = await _milestones(bootstrap, POLICE, police_ref)
            return len(police) >= 2 and len(await _milestones(bootstrap, PAYOKE, centre_ref)) >= 2

        await wait_until(both_arrived, timeout=30)
        async with service.runtime.pool.acquire() as conn:
            events = {r["event_type"]: r["event_id"] for r in await conn.fetch(
                "SELECT event_type, event_id FROM events WHERE stream_id = $1", f"referral-{rid}")}  # fmt: skip

    police = {m.milestone.value: m for m in await _milestones(bootstrap, POLICE, police_ref)}
    centre = {m.milestone.value: m for m in await _milestones(bootstrap, PAYOKE, centre_ref)}
    assert set(police) == set(centre) == {"referral-received", "referral-taken-up"}
    # The police unit: dates only, under its own report number.
    assert police["referral-received"].data == {"received_on": police["referral-received"].occurred_on.isoformat()}
    assert set(police["referral-taken-up"].data) == {"taken_up_on"}
    assert {m.file_number for m in police.values()} == {REPORT_NUMBER}
    # The centre: what it triages on, and no file number of anyone else.
    assert set(centre["referral-received"].data) == {"received_on", "region", "signal_count", "recommendation"}
    assert {m.file_number for m in centre.values()} == {None}
    assert police_ref != centre_ref
    for m in (*police.values(), *centre.values()):
        source = events["ReferralSubmitted" if m.milestone.value == "referral-received" else "ReferralAccepted"]
        assert m.milestone_id == uuid5(source, m.audience) and m.source == "intake"
    # Nobody else heard of this referral: not under their own reference, not by any id, not by a person's data.
    audiences = published_audiences("intake", service.settings.police_zones)
    topics = await asyncio.gather(*(read_topic(bootstrap, milestone_topic(a)) for a in audiences))
    for audience, records in zip(audiences, topics, strict=True):
        if audience not in (POLICE, PAYOKE):
            assert not [r for r in records if r.key == refs.case_ref(audience, rid).encode()], audience
        for record in records:
            text = record.value.decode() + repr(headers_of(record))
            assert rid not in text and not [s for s in CLEAR_STRINGS if s in text], audience
