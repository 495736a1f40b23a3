"""Every projection of every service holds the projection contract (tests/support/projection_contract.py):
rebuilt from position 0 it equals the inline rows. Each service runs for real, driven through its API (and
through its real upstream topics where it follows cases opened by intake). Feeds keeps no projection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from harbour.clock import ManualClock
from harbour_tools.infra import BrokerProcess
from services.housing.app import DEFINITION as HOUSING
from services.intake.app import DEFINITION as INTAKE
from services.legal.app import DEFINITION as LEGAL
from services.tracks.app import DEFINITION as TRACKS
from tests.support.harness import RunningService, running_service
from tests.support.housing_env import exit_case, open_case, register_shelter, request_bed
from tests.support.intake_flow import PAYOKE, PERSON, IntakeClient, clock, open_lead
from tests.support.legal_harness import legal_stage
from tests.support.projection_contract import ProjectionContract
from tests.support.tracks_env import tracks_env
from tests.support.upstream import upstream

pytestmark = pytest.mark.integration
SURYA = "centre-surya"


def started(broker: BrokerProcess) -> BrokerProcess:
    if not broker.is_running:  # an earlier module's test may have stopped it
        broker.start()
    return broker


class TestIntakeProjections(ProjectionContract):
    definition = INTAKE

    @pytest.fixture(scope="class")
    @classmethod
    async def projected(cls, pg_server_url, broker) -> AsyncIterator[RunningService]:
        running_broker = started(broker)
        async with running_service(INTAKE, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                                   clock=clock(), background=False) as service:  # fmt: skip
            intake = IntakeClient(service)
            await intake.referral_at("admitted", person=PERSON)
            await intake.referral_at("screened")
            minor = await intake.referral_at("admitted")
            await intake.command(f"/cases/{minor['case_id']}/minority",
                                 {"kind": "unaccompanied", "basis": "declared-age"})  # fmt: skip
            declined = await intake.referral_at("screened")
            await intake.command(f"/referrals/{declined['referral_id']}/decision",
                                 {"decision": "decline", "decline_reason": "outside-mandate"}, org=PAYOKE)  # fmt: skip
            # Leads in each state: open, taken up (with the referral it made), closed.
            leads = [await open_lead(intake) for _ in range(3)]
            await intake.command(f"/leads/{leads[1]}/take-up", {"urgency": ["immediate-danger"]}, status=201)
            await intake.command(f"/leads/{leads[2]}/closure", {"reason": "duplicate"})
            yield service


class TestLegalProjections(ProjectionContract):
    definition = LEGAL

    @pytest.fixture(scope="class")
    @classmethod
    async def projected(cls, pg_server_url, broker) -> AsyncIterator[RunningService]:
        running_broker = started(broker)
        async with legal_stage(pg_server_url, running_broker.bootstrap) as stage:
            case_id = await stage.open_case()
            await stage.issue(case_id, "annex-15")
            await stage.statement_and_file(case_id)
            await stage.issue(case_id, "attestation-of-immatriculation")
            await stage.opinion(case_id)
            cls.consumer_fed_cases = [case_id, await stage.open_case(minor=True)]
            yield stage.svc


class TestTracksProjections(ProjectionContract):
    definition = TRACKS

    @pytest.fixture(scope="class")
    @classmethod
    async def projected(cls, pg_server_url, broker) -> AsyncIterator[RunningService]:
        running_broker = started(broker)
        async with tracks_env(pg_server_url, running_broker.bootstrap) as env:
            case_id, _ = await env.open_case()
            goal = {"area": "housing", "target_date": "2026-06-01", "own_words": "a room of my own"}
            goal_id = (await env.post(f"/tracks/{case_id}/goals", goal, PAYOKE, expect=201))["id"]
            await env.post(f"/tracks/{case_id}/goals/{goal_id}/progress", None, PAYOKE)
            session = {"held_on": "2026-01-05", "area": "housing", "kind": "phone", "duration_minutes": 15,
                       "attended": True, "notes": "called"}  # fmt: skip
            await env.post(f"/tracks/{case_id}/sessions", session, PAYOKE, expect=201)
            await env.post(f"/tracks/{case_id}/transfer", {"to_centre": SURYA, "reason": "person-relocated"},
                           PAYOKE, "manager")  # fmt: skip
            await env.post(f"/tracks/{case_id}/transfer/accept", {"caseworker_id": "cw-liege"}, SURYA, "manager")
            cls.consumer_fed_cases = [case_id, (await env.open_case())[0]]
            yield env.svc


class TestHousingProjections(ProjectionContract):
    definition = HOUSING

    @pytest.fixture(scope="class")
    @classmethod
    async def projected(cls, pg_server_url, broker) -> AsyncIterator[RunningService]:
        running_broker = started(broker)
        at = ManualClock(datetime(2026, 1, 5, 20, 0, tzinfo=UTC))
        async with (
            running_service(
                HOUSING, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap, clock=at
            ) as housing,  # fmt: skip
            upstream("intake", pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap) as intake,
        ):
            cases = [(await open_case(housing, intake, PAYOKE))[0] for _ in range(3)]
            await register_shelter(housing, PAYOKE, {"b1": [], "b2": []})
            for case_id in cases:  # two beds, three people: one waits until the first leaves
                await request_bed(housing, PAYOKE, case_id)
            await exit_case(housing, PAYOKE, cases[0])
            cls.consumer_fed_cases = cases
            yield housing
