"""A running legal service fed by a real intake upstream, with a manual clock: the legal tests' shared stage.

Cases are opened the real way: intake's CaseOpened is stored by an upstream stand-in, relayed to
``intake.events.v1`` and consumed by the legal service through its inbox. Time moves by setting the clock to a
day and firing the due timers (``run_due_once``), never by sleeping.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from harbour.clock import ManualClock
from harbour.kafka.topics import consumed_topics, ensure_topics
from harbour_tools.infra import BrokerProcess
from schemas.intake import CaseOpened, Centre, Region
from services.legal.app import DEFINITION
from services.legal.timekeeping import BRUSSELS, legal_today
from tests.support.harness import RunningService, running_service
from tests.support.kafka import read_topic
from tests.support.upstream import Upstream, upstream
from tests.support.waiting import wait_until

START = datetime(2026, 1, 5, 9, 0, tzinfo=BRUSSELS)
COURT = "criminal-court-antwerp"
OFFICE = "prosecution-antwerp"


@dataclass
class LegalStage:
    svc: RunningService
    intake: Upstream
    clock: ManualClock
    headers: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    # ---- who is calling ------------------------------------------------------------------------------------
    def as_(self, org: str, role: str) -> dict[str, str]:
        key = (org, role)
        if key not in self.headers:
            self.headers[key] = self.svc.token(org, role)
        return self.headers[key]

    @property
    def centre(self) -> dict[str, str]:
        return self.as_("centre-payoke", "caseworker")

    @property
    def immigration(self) -> dict[str, str]:
        return self.as_("immigration-office", "officer")

    @property
    def magistrate(self) -> dict[str, str]:
        return self.as_(OFFICE, "magistrate")

    # ---- time ----------------------------------------------------------------------------------------------
    @property
    def today(self) -> date:
        return legal_today(self.clock)

    async def move_to(self, day: date, at: time = time(9, 0)) -> int:
        """Set the clock to ``day`` (Brussels, after the 08:00 timers) and fire what is due; returns how many."""
        moment = datetime.combine(day, at, tzinfo=BRUSSELS)
        assert moment >= self.clock.now(), "time only moves forward"
        self.clock.set(moment)
        fired = await self.svc.runtime.timers.run_due_once()
        await self.settled()
        return fired

    async def settled(self) -> None:
        """Wait until no due timer is pending: the service's own background runner may hold one mid-firing (its
        row lock makes our pass skip it), and its effects must be committed before the test looks."""

        async def nothing_due() -> bool:
            async with self.svc.runtime.pool.acquire() as conn:
                failed = await conn.fetch(
                    """SELECT key, last_error FROM timers WHERE fired_at IS NULL AND cancelled_at IS NULL
                       AND attempts > 0"""
                )
                assert not failed, [dict(r) for r in failed]
                return await self.svc.runtime.timers.due_count(conn) == 0

        await wait_until(nothing_due, timeout=15)

    async def pending_timers(self, case_id: str) -> list[str]:
        async with self.svc.runtime.pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT key FROM timers WHERE case_id = $1 AND fired_at IS NULL
                                       AND cancelled_at IS NULL ORDER BY due_at, key""",
                case_id,
            )
        return [r["key"] for r in rows]

    async def move_by(self, days: int) -> int:
        return await self.move_to(self.today + timedelta(days=days))

    # ---- cases ---------------------------------------------------------------------------------------------
    async def open_case(self, *, minor: bool = False, eu_citizen: bool = False, centre: Centre = Centre.PAYOKE) -> str:
        """Publish intake's CaseOpened on the real broker and wait until the legal service follows the case."""
        case_id = f"case-{uuid.uuid4().hex[:10]}"
        opened = CaseOpened(
            case_id=case_id,
            referral_id=f"ref-{case_id}",
            centre=centre,
            person_id=f"person-{case_id}",
            minor=minor,
            eu_citizen=eu_citizen,
            needs_shelter_tonight=False,
            referring_organisation_id="police-zone-antwerp",
            region=Region.FLANDERS,
            opened_on=self.today,
        )
        await self.intake.publish(f"case-{case_id}", case_id, [opened])
        caller = self.as_(centre.value, "caseworker")

        async def followed() -> bool:
            return (await self.svc.client.get(f"/cases/{case_id}/residence", headers=caller)).status_code == 200

        try:
            await wait_until(followed, timeout=60)
        except TimeoutError:
            consumer = self.svc.runtime.consumers[0]
            on_topic = [
                r
                for r in await read_topic(self.svc.runtime.endpoints.bootstrap, "intake.events.v1")
                if r.key == case_id.encode()
            ]
            raise AssertionError(
                f"CaseOpened not consumed: handled={consumer.handled} "
                f"dead={consumer.dead_lettered} on_topic={len(on_topic)}"
            ) from None
        return case_id

    async def post(self, case_id: str, path: str, body: dict[str, Any], who: dict[str, str]) -> httpx.Response:
        return await self.svc.client.post(f"/cases/{case_id}/{path}", json=body, headers=who)

    async def ok(self, case_id: str, path: str, body: dict[str, Any], who: dict[str, str]) -> dict[str, Any]:
        response = await self.post(case_id, path, body, who)
        assert response.status_code == 201, response.text
        return response.json()

    async def residence(self, case_id: str) -> dict[str, Any]:
        response = await self.svc.client.get(f"/cases/{case_id}/residence", headers=self.centre)
        assert response.status_code == 200, response.text
        return response.json()

    async def events(self, case_id: str, event_type: str | None = None) -> list[Any]:
        recorded = await self.svc.runtime.store.read_case(case_id)
        return [r.event for r in recorded if event_type is None or r.event_type == event_type]

    # ---- common steps --------------------------------------------------------------------------------------
    async def issue(self, case_id: str, document: str | None = None, *, renewal: bool = False) -> dict[str, Any]:
        """The centre's request and the Immigration Office's grant, today."""
        if renewal:
            await self.ok(case_id, "residence/renewal-requests", {}, self.centre)
        else:
            await self.ok(case_id, "residence/requests", {"document": document}, self.centre)
        return await self.ok(case_id, "residence/decisions", {"outcome": "issued"}, self.immigration)

    async def statement_and_file(self, case_id: str) -> None:
        await self.ok(
            case_id,
            "proceedings/statements",
            {"kind": "complaint", "unit": "police-zone-antwerp", "report_number": "AN.55.L1.012345/2026"},
            self.centre,
        )
        await self.ok(case_id, "proceedings/file", {"office": OFFICE, "file_number": "AN55.98.1234/26"}, self.centre)

    async def opinion(self, case_id: str, step: str = "a-card-initial", outcome: str = "victim") -> None:
        await self.ok(case_id, "proceedings/opinions", {"step": step, "outcome": outcome}, self.magistrate)


@asynccontextmanager
async def legal_stage(
    pg_server_url: str,
    bootstrap: str,
    *,
    clock: ManualClock | None = None,
    database: str | None = None,
    keep_database: bool = False,
) -> AsyncIterator[LegalStage]:
    clock = clock or ManualClock(START)
    async with AsyncExitStack() as stack:
        # The consumer must find intake's topic at start: subscribed to a missing topic it would only notice
        # it at the next metadata refresh (minutes), long after the upstream's relay created it.
        await ensure_topics(bootstrap, consumed_topics(["intake.events.v1"]))
        intake = await stack.enter_async_context(upstream("intake", pg_server_url=pg_server_url, bootstrap=bootstrap))
        svc = await stack.enter_async_context(
            running_service(
                DEFINITION,
                pg_server_url=pg_server_url,
                bootstrap=bootstrap,
                clock=clock,
                database=database,
                keep_database=keep_database,
            )
        )
        yield LegalStage(svc, intake, clock)


@pytest.fixture(scope="module", name="legal_stage_for_session")
async def shared_legal_stage(pg_server_url: str, broker: BrokerProcess) -> AsyncIterator[LegalStage]:
    """One legal service for all the tests of a module (each test opens its own case and reads dates relative
    to the clock's today): a service start with its consumer groups costs seconds."""
    if not broker.is_running:
        broker.start()
    async with legal_stage(pg_server_url, broker.bootstrap) as running:
        yield running
