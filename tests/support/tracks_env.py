"""A running tracks service with real upstream services beside it (intake, legal, housing), for one test module.

With ``kafka=True`` the tracks service runs its relay and consumers in the background, so upstream events
travel through the real broker. With ``kafka=False`` (a test about something else, such as access) nothing
runs in the background and each upstream event, stored by the real upstream store, is handed to the tracks
handler directly in a transaction, as the inbox consumer would: no consumer group to join, a faster start.

The timer runner never runs in the background:
tests move the ManualClock and fire due timers themselves (``run_due_once``), so no timer fires behind a
test's back and nothing waits for domain time. Dates in tests are taken from the clock, so tests sharing the
service stay valid whichever of them moved the clock first.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from harbour.clock import ManualClock, today
from harbour.events import DomainEvent
from harbour.kafka.consumer import Handler, HandlerContext
from harbour.store import Actor, CommandContext, RecordedEvent
from schemas.intake import CaseOpened, Centre, PersonErased, Region
from services.tracks import handlers
from services.tracks.app import DEFINITION
from tests.support.harness import RunningService, running_service
from tests.support.upstream import Upstream, upstream
from tests.support.waiting import wait_until

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PURPOSE = {"Harbour-Purpose": "preparing the plan review with the person"}


@dataclass
class TracksEnv:
    svc: RunningService
    clock: ManualClock
    intake: Upstream
    legal: Upstream
    housing: Upstream
    kafka: bool = True

    @property
    def today(self) -> date:
        return today(self.clock)

    def auth(self, org: str, role: str = "caseworker", user: str = "cw-1") -> dict[str, str]:
        return self.svc.token(org, role, user)

    async def events(self, case_id: str) -> list[RecordedEvent]:
        return await self.svc.runtime.store.read_stream(f"track-{case_id}")

    async def types(self, case_id: str) -> list[str]:
        return [r.event_type for r in await self.events(case_id)]

    async def wait_for(self, case_id: str, event_type: str, count: int = 1) -> None:
        """Until the track holds ``count`` events of ``event_type`` (a consumer's effect, in real time)."""

        async def arrived() -> bool:
            return (await self.types(case_id)).count(event_type) >= count

        await wait_until(arrived, timeout=40)

    async def open_case(
        self,
        *,
        centre: str = Centre.PAYOKE,
        actor: Actor | None = None,
        case_id: str | None = None,
        person_id: str | None = None,
        wait: bool = True,
    ) -> tuple[str, str]:
        """Publish a real intake ``CaseOpened`` and (by default) wait until tracks opened the track."""
        case_id = case_id or f"case-{uuid.uuid4().hex[:10]}"
        person_id = person_id or f"person-{uuid.uuid4().hex[:10]}"
        opened = CaseOpened(
            case_id=case_id,
            referral_id=f"ref-{case_id}",
            centre=Centre(centre),
            person_id=person_id,
            minor=False,
            eu_citizen=False,
            needs_shelter_tonight=False,
            referring_organisation_id="police-federal",
            region=Region.FLANDERS,
            opened_on=self.today,
        )
        [recorded] = await self.intake.publish(
            f"case-{case_id}", case_id, [opened], actor=actor or Actor(str(centre), "caseworker", "cw-1")
        )
        if not self.kafka:
            await self.deliver(recorded, handlers.on_intake_event)
        if wait:
            await self.wait_for(case_id, "TrackOpened")
        return case_id, person_id

    async def deliver(self, recorded: RecordedEvent, handle: Handler) -> None:
        """Hand an upstream event to a tracks handler in one transaction, as the inbox consumer does."""
        rt = self.svc.runtime
        async with rt.store.transaction() as conn:
            command = CommandContext(actor=Actor.system(handlers.CONSUMER), causation_id=recorded.event_id)
            await handle(HandlerContext(conn, rt, command, recorded), recorded)

    async def erase(self, case_id: str, person_id: str) -> None:
        erased = PersonErased(person_id=person_id, reason="person-request", erased_on=self.today)
        await self.intake.publish(
            f"person-{person_id}", case_id, [erased], actor=Actor("centre-payoke", "manager", "m-1")
        )

    async def from_legal(self, case_id: str, stream: str, *events: DomainEvent) -> None:
        await self.legal.publish(
            f"{stream}-{case_id}", case_id, list(events), actor=Actor("immigration-office", "officer", "io-1")
        )

    async def from_housing(self, case_id: str, *events: DomainEvent) -> None:
        await self.housing.publish(
            f"placement-{case_id}", case_id, list(events), actor=Actor("centre-payoke", "housing", "h-1")
        )

    async def post(
        self,
        path: str,
        body: dict[str, Any] | None,
        org: str,
        role: str = "caseworker",
        user: str = "cw-1",
        expect: int = 200,
    ) -> dict[str, Any]:
        response = await self.svc.client.post(path, json=body, headers=self.auth(org, role, user))
        assert response.status_code == expect, response.text
        return response.json()

    async def get(
        self,
        path: str,
        org: str,
        role: str = "caseworker",
        user: str = "cw-1",
        expect: int = 200,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        response = await self.svc.client.get(path, headers={**self.auth(org, role, user), **(headers or {})})
        assert response.status_code == expect, response.text
        return response.json()


@asynccontextmanager
async def tracks_env(pg_server_url: str, bootstrap: str, *, kafka: bool = True) -> AsyncIterator[TracksEnv]:
    clock = ManualClock(START)
    async with (
        running_service(
            DEFINITION, pg_server_url=pg_server_url, bootstrap=bootstrap, clock=clock, background=kafka
        ) as svc,
        upstream("intake", pg_server_url=pg_server_url, bootstrap=bootstrap) as intake,
        upstream("legal", pg_server_url=pg_server_url, bootstrap=bootstrap) as legal,
        upstream("housing", pg_server_url=pg_server_url, bootstrap=bootstrap) as housing,
    ):
        await svc.runtime.timers.stop()  # the tests fire due timers themselves, with a moved clock
        yield TracksEnv(svc, clock, intake, legal, housing, kafka)
