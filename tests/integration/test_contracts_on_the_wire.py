"""Real messages taken from the broker during an end-to-end run validate against the committed JSON Schema."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from harbour_tools.contracts import SCHEMAS_DIR
from schemas.milestones import milestone_topic
from services.intake.app import DEFINITION
from tests.support.harness import running_service
from tests.support.intake_flow import PAYOKE, POLICE, IntakeClient, clock
from tests.support.kafka import headers_of, read_topic
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def committed(name: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((SCHEMAS_DIR / "jsonschema" / name).read_text()))


async def test_every_event_and_milestone_on_the_wire_matches_its_committed_schema(pg_server_url, running_broker):
    bootstrap = running_broker.bootstrap
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=bootstrap, clock=clock()) as svc:
        intake = IntakeClient(svc)
        await intake.referral_at("admitted")

        async def published() -> bool:
            events = await read_topic(bootstrap, "intake.events.v1")
            types = {headers_of(r)["event_type"] for r in events}
            centre = await read_topic(bootstrap, milestone_topic(PAYOKE))
            police = await read_topic(bootstrap, milestone_topic(POLICE))
            return "CaseOpened" in types and len(centre) >= 2 and len(police) >= 2

        await wait_until(published, timeout=40)
    events = await read_topic(bootstrap, "intake.events.v1")
    seen = set()
    for record in events:
        h = headers_of(record)
        validator = committed(f"{h['event_type']}.v{h['schema_version']}.json")
        errors = [e.message for e in validator.iter_errors(json.loads(record.value))]
        assert not errors, (h["event_type"], errors)
        seen.add(h["event_type"])
    assert {"ReferralSubmitted", "ReferralScreened", "ReferralAccepted", "CaseOpened"} <= seen
    envelope = committed("Milestone.v1.json")
    for audience in (PAYOKE, POLICE):
        records = await read_topic(bootstrap, milestone_topic(audience))
        assert records
        for record in records:
            value = json.loads(record.value)
            assert not list(envelope.iter_errors(value)), audience
            # And the closed schema of its type: exactly the fields this audience's role is granted.
            own = committed(f"Milestone.{headers_of(record)['milestone']}.v1.json")
            assert not [e.message for e in own.iter_errors(value)], (audience, value)
            assert record.key.decode() == value["case_ref"]
