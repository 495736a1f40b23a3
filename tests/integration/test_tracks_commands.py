"""The command layer's contract (tests/support/command_contract.py) for tracks: sessions recorded on one track,
over the real HTTP API and PostgreSQL; the writer outside the queue notes a legal fact, as tracks' handler does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from harbour.store import Actor, CommandContext
from schemas.intake import Centre
from services.tracks.domain import Track
from tests.support.command_contract import CommandContract, Target
from tests.support.harness import RunningService
from tests.support.tracks_env import TracksEnv, tracks_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def tracks(pg_server_url: str, broker) -> AsyncIterator[TracksEnv]:
    async with tracks_env(pg_server_url, broker.bootstrap, kafka=False) as env:
        yield env


class TestTracksCommands(CommandContract):
    status = 201
    event_type = "SessionRecorded"
    written_type = "LegalStatusNoted"

    @pytest.fixture(autouse=True)
    def _bind(self, tracks: TracksEnv) -> None:
        self.env = tracks

    def service(self) -> RunningService:
        return self.env.svc

    async def prepare(self) -> Target:
        case_id, _ = await self.env.open_case(centre=Centre.PAYOKE)
        return Target(f"/tracks/{case_id}/sessions", self.env.auth(Centre.PAYOKE), f"track-{case_id}",
                      {"case_id": case_id})  # fmt: skip

    def body(self, target: Target, i: int) -> dict[str, Any]:
        return {"held_on": self.env.today.isoformat(), "area": "housing", "kind": "conversation",
                "duration_minutes": 30 + i, "attended": True}  # fmt: skip

    async def write_outside(self, conn: Any, target: Target) -> None:
        rt = self.service().runtime
        track = await rt.repository.load(Track, target.facts["case_id"], conn=conn)
        track.note_status_granted(on=self.env.today)
        await rt.repository.save(track, CommandContext(actor=Actor.system("contract.writer")), conn=conn)
