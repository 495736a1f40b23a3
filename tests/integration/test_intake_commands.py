"""The command layer's contract (tests/support/command_contract.py) for intake: intake interviews on one accepted
referral, over the real HTTP API and PostgreSQL. A referral may need several conversations before admission, so
the same command can be sent again and again on one intake file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from harbour.clock import today
from harbour.store import Actor, CommandContext
from schemas.intake import Centre
from services.intake.app import DEFINITION
from services.intake.domain import Referral
from tests.support.command_contract import CommandContract, Target
from tests.support.harness import RunningService, running_service
from tests.support.intake_flow import PAYOKE, IntakeClient, clock

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def intake(pg_server_url: str, broker) -> AsyncIterator[IntakeClient]:
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=broker.bootstrap, clock=clock(),
                               background=False) as service:  # fmt: skip
        yield IntakeClient(service)


class TestIntakeCommands(CommandContract):
    event_type = written_type = "IntakeInterviewHeld"

    @pytest.fixture(autouse=True)
    def _bind(self, intake: IntakeClient) -> None:
        self.intake = intake

    def service(self) -> RunningService:
        return self.intake.service

    async def prepare(self) -> Target:
        referral = await self.intake.referral_at("accepted")
        rid = referral["referral_id"]
        return Target(f"/referrals/{rid}/interviews", self.intake.centre(PAYOKE), f"referral-{rid}",
                      {"referral_id": rid})  # fmt: skip

    def body(self, target: Target, i: int) -> dict[str, Any]:
        return {}

    async def write_outside(self, conn: Any, target: Target) -> None:
        rt = self.service().runtime
        referral = await rt.repository.load(Referral, target.facts["referral_id"], conn=conn)
        referral.hold_intake_interview(by_centre=Centre(PAYOKE), on=today(rt.clock))
        await rt.repository.save(referral, CommandContext(actor=Actor.system("contract.writer")), conn=conn)
