"""Housing's milestones: after intake's real ``CaseOpened`` (consumed from the broker), a bed assigned tonight
tells the owning centre and, for a minor, the Guardianship Service that housing is secured: when and what
kind, never which shelter or bed."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from harbour.clock import ManualClock
from milestones import Pseudonyms
from schemas.intake import CaseOpened, Centre, Region, Urgency
from schemas.milestones import Milestone, milestone_topic
from services.housing.app import DEFINITION
from tests.support.harness import running_service
from tests.support.housing_env import register_shelter
from tests.support.kafka import read_topic
from tests.support.upstream import upstream
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
CENTRE = "centre-surya"


async def _milestones(bootstrap: str, audience: str, case_ref: str) -> list[Milestone]:
    records = await read_topic(bootstrap, milestone_topic(audience))
    return [Milestone.model_validate_json(r.value) for r in records if r.key == case_ref.encode()]


async def test_a_bed_assigned_to_a_minor_tells_the_centre_and_the_guardianship_service_without_the_shelter(
    pg_server_url, running_broker
):
    bootstrap = running_broker.bootstrap
    clock = ManualClock(datetime(2026, 1, 5, 21, 0, tzinfo=UTC))
    async with (
        running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=bootstrap, clock=clock) as housing,
        upstream("intake", pg_server_url=pg_server_url, bootstrap=bootstrap) as intake,
    ):
        shelter = await register_shelter(housing, CENTRE, {"bed-quiet-room": []}, address="Rue Cachée 9, Liège")
        case_id, referral_id = f"case-{uuid.uuid4().hex[:10]}", f"ref-{uuid.uuid4().hex[:10]}"
        opened = CaseOpened(
            case_id=case_id, referral_id=referral_id, centre=Centre(CENTRE), person_id="person-1", minor=True,
            eu_citizen=False, urgency=(Urgency.NEEDS_SHELTER_TONIGHT,), needs_shelter_tonight=True,
            referring_organisation_id="police-liege", referrer_file_number="LG.12.L1.000777/26",
            region=Region.WALLONIA, opened_on=date(2026, 1, 5),
        )  # fmt: skip
        await intake.publish(f"referral-{referral_id}", case_id, [opened])
        refs = Pseudonyms.from_settings(housing.settings)
        centre_ref = refs.case_ref(CENTRE, referral_id)
        guardian_ref = refs.case_ref("guardianship-service", referral_id)

        async def secured() -> bool:
            return bool(await _milestones(bootstrap, "guardianship-service", guardian_ref))

        await wait_until(secured, timeout=45)
        [centre] = await _milestones(bootstrap, CENTRE, centre_ref)
        [guardian] = await _milestones(bootstrap, "guardianship-service", guardian_ref)

    for milestone in (centre, guardian):
        assert milestone.milestone.value == "housing-secured" and milestone.source == "housing"
        # The day the bed was assigned, and the kind: nothing else.
        assert set(milestone.data) == {"secured_on", "housing_kind"} and milestone.data["housing_kind"] == "shelter"
        assert milestone.data["secured_on"] == milestone.occurred_on.isoformat()
        assert milestone.file_number is None
        text = milestone.model_dump_json()
        assert shelter not in text and "bed-quiet-room" not in text and "Cachée" not in text and case_id not in text
    # The referring police zone has nothing to learn about housing.
    assert not await _milestones(bootstrap, "police-liege", refs.case_ref("police-liege", referral_id))
