"""End to end: a federal police referral to Payoke, through screening, acceptance, interview and consent, to
admission; ``CaseOpened`` is consumed from the real broker, and no message carries clear personal data."""

from __future__ import annotations

import json

from schemas.intake import CaseOpened, CaseProfiled
from services.intake.app import DEFINITION
from tests.support.harness import running_service
from tests.support.intake_flow import CLEAR_STRINGS, PAYOKE, PERSON, POLICE, IntakeClient, clock
from tests.support.intake_privacy import record_text, topic_records
from tests.support.kafka import headers_of
from tests.support.waiting import wait_until


async def test_a_police_referral_becomes_a_case_opened_at_payoke_that_others_consume_from_the_broker(
    pg_server_url, running_broker
):
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               clock=clock()) as service:  # fmt: skip
        intake = IntakeClient(service)
        police = intake.auth(POLICE, "officer")
        submitted = await service.client.post("/referrals", json=intake.referral_body(person=PERSON),
                                              headers={**police, "Idempotency-Key": "pv-2026-000123"})  # fmt: skip
        assert submitted.status_code == 201, submitted.text
        rid = submitted.json()["referral_id"]
        screened = await intake.command(
            f"/referrals/{rid}/screening", {"added_signal_ids": ["violence-and-threats.intimidation-and-threats"]}
        )
        assert screened["screening"]["signal_count"] == 3 and screened["screening"]["recommendation"] == "take-in"
        await intake.command(f"/referrals/{rid}/decision", {"decision": "accept"})
        assert (await service.client.get(f"/referrals/{rid}", headers=police)).json()["status"] == "accepted"
        await intake.command(f"/referrals/{rid}/interviews", {})
        await intake.command(f"/referrals/{rid}/consents", {"scope": "guidance"})
        await intake.command(f"/referrals/{rid}/consents", {"scope": "data-sharing-justice"})
        case = await intake.command(f"/referrals/{rid}/admission", {"eu_citizen": False}, status=201)
        case_id = case["case_id"]

        async def case_profiled_on_the_topic() -> bool:
            # The admission's last event: the referral's profile again, under the case.
            return any(r.key == case_id.encode() and headers_of(r)["event_type"] == "CaseProfiled"
                       for r in await topic_records(running_broker.bootstrap))  # fmt: skip

        await wait_until(case_profiled_on_the_topic, timeout=30)
        records = await topic_records(running_broker.bootstrap)
        mine = [r for r in records if headers_of(r)["case_id"] in (rid, case_id)]
        [opened] = [r for r in mine if headers_of(r)["event_type"] == "CaseOpened"]
        event = CaseOpened.model_validate(json.loads(opened.value))
        assert (event.case_id, event.referral_id, event.centre.value) == (case_id, rid, PAYOKE)
        assert event.referring_organisation_id == POLICE and event.referrer_file_number == "AN.12.L1.004567/26"
        assert event.needs_shelter_tonight and not event.minor and not event.eu_citizen
        assert event.person_id == case["person_id"]
        # Keyed by the referral until admission, by the case from then on.
        in_stream_order = sorted(mine, key=lambda r: int(headers_of(r)["stream_version"]))
        types = [(headers_of(r)["event_type"], r.key.decode()) for r in in_stream_order]
        assert [t for t, _ in types] == ["ReferralSubmitted", "IdentityCaptured", "CaseProfiled", "ReferralScreened",
                                         "ReferralAccepted", "IntakeInterviewHeld", "ConsentGiven", "ConsentGiven",
                                         "CaseOpened", "CaseProfiled"]  # fmt: skip
        assert {k for _, k in types[:-2]} == {rid} and {k for _, k in types[-2:]} == {case_id}
        # The person's profile in bands only (PERSON: a Nigerian woman born 1999-03-14, referred in 2026).
        profiles = [CaseProfiled.model_validate(json.loads(r.value)) for r in in_stream_order
                    if headers_of(r)["event_type"] == "CaseProfiled"]  # fmt: skip
        assert [(p.case_id, p.sex, p.age_band, p.citizenship, p.world_region) for p in profiles] == [
            (None, "female", "25-34", "non-eu", "africa"),
            (case_id, "female", "25-34", "non-eu", "africa"),
        ]
        # No message on the topic, from this test or any other, carries a clear personal value.
        for record in records:
            text = record_text(record)
            assert not [s for s in CLEAR_STRINGS if s in text], headers_of(record)["event_type"]
        # The referrer sees that its referral was taken up; the case itself stays the centre's.
        status = (await service.client.get(f"/referrals/{rid}", headers=police)).json()
        assert status["status"] == "admitted" and status["taken_up"] is True and "case_id" not in status
