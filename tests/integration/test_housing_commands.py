"""The command layer's contract (tests/support/command_contract.py) for housing: beds added to one shelter, over
the real HTTP API and PostgreSQL. Housing's commands queue on the shelter network, where every bed decision of
a centre is taken; they take no ``expected_version`` (the network decides, not a version the client read)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from harbour.clock import ManualClock, today
from harbour.store import Actor, CommandContext
from services.housing.app import DEFINITION
from services.housing.domain import ShelterNetwork
from tests.support.command_contract import CommandContract, Target
from tests.support.harness import RunningService, running_service
from tests.support.housing_env import register_shelter

pytestmark = pytest.mark.integration

CENTRE = "centre-payoke"


@pytest.fixture(scope="module")
async def housing(pg_server_url: str, broker) -> AsyncIterator[RunningService]:
    at = ManualClock(datetime(2026, 1, 5, 20, 0, tzinfo=UTC))
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=broker.bootstrap, clock=at,
                               background=False) as service:  # fmt: skip
        yield service


class TestHousingCommands(CommandContract):
    status = 204
    event_type = "BedAdded"
    written_type = "BedTakenOutOfService"
    pins_versions = False

    @pytest.fixture(autouse=True)
    def _bind(self, housing: RunningService) -> None:
        self.housing = housing

    def service(self) -> RunningService:
        return self.housing

    async def prepare(self) -> Target:
        shelter_id = await register_shelter(self.housing, CENTRE, {"b0": [], "b1": []})
        return Target(f"/housing/shelters/{shelter_id}/beds", self.housing.token(CENTRE, "housing"),
                      f"shelter-network-{CENTRE}", {"shelter_id": shelter_id})  # fmt: skip

    def body(self, target: Target, i: int) -> dict[str, Any]:
        return {"bed_id": f"x{i}"}

    async def write_outside(self, conn: Any, target: Target) -> None:
        rt = self.service().runtime
        network = await rt.repository.load(ShelterNetwork, CENTRE, conn=conn)
        network.take_bed_out_of_service(shelter_id=target.facts["shelter_id"], bed_id="b0", on=today(rt.clock))
        await rt.repository.save(network, CommandContext(actor=Actor.system("contract.writer")), conn=conn)
