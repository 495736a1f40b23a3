"""One case across every service: the whole platform in this process on one real broker, one shared clock, and a
case driven through the real HTTP APIs (intake's referral and admission, legal's residence procedure and
proceedings, the track and its transfers, a shelter placement in housing).

The probes answer "may this centre act on this part of the case?" without changing anything: each is a command
that passes access and validation but breaks a rule of the domain, so the holder gets 422 and every other centre
403 (it knows the case) or 404 (it does not). ``acting`` gives, per part, the centres that may act: issue 13
asks for exactly one at every point of a case's history.

Connections stay few: each service's pool is capped at ``POOL``; the relays and timers hold their own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid5

import httpx

from harbour.clock import ManualClock, local_moment, today
from harbour.kafka.topics import ensure_topics, topic_table
from services import registry
from tests.support.harness import QUICK_GROUPS, RunningService, fast_settings, running_service, running_services
from tests.support.kafka import read_topic
from tests.support.waiting import wait_until

PAYOKE, PAG_ASA, SURYA = "centre-payoke", "centre-pag-asa", "centre-surya"
CENTRES = (PAYOKE, PAG_ASA, SURYA)
POLICE = "police-federal"
IMMIGRATION = "immigration-office"
OFFICE = "prosecution-antwerp"
GUARDIANSHIP = "guardianship-service"
PARTS = ("intake", "legal", "tracks", "housing")
PURPOSE = {"Harbour-Purpose": "preparing the hand-over of the case"}
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # 09:00 in Brussels (winter: UTC+1)
POOL = 4
SETTINGS = {**QUICK_GROUPS, "db_pool_max": POOL, "milestone_fact_wait_seconds": 20.0}  # fmt: skip
MAY_ACT = frozenset({200, 201, 202, 204, 409, 422})
MAY_NOT_ACT = frozenset({403, 404})
APPLY_TIMEOUT = 20.0


@dataclass
class Case:
    case_id: str
    person_id: str
    referral_id: str
    holder: str  # the centre the test expects to hold the case
    history: list[str] = field(default_factory=list)  # the centres that held it, in order


@dataclass
class Whole:
    services: dict[str, RunningService]
    clock: ManualClock
    bootstrap: str
    responses: list[tuple[str, str, int]] = field(default_factory=list)  # (service, path, status): every call
    shelters: dict[str, str] = field(default_factory=dict)  # centre -> its shelter id

    def __repr__(self) -> str:  # hypothesis prints its arguments: the services' settings are noise there
        return f"Whole({', '.join(self.services)})"

    # ---- calls ---------------------------------------------------------------------------------------------
    def headers(self, service: str, org: str, role: str, user: str = "tester") -> dict[str, str]:
        return self.services[service].token(org, role, user)

    async def call(self, service: str, method: str, path: str, org: str, role: str, body: Any = None,
                   extra: dict[str, str] | None = None) -> httpx.Response:  # fmt: skip
        headers = {**self.headers(service, org, role), **(extra or {})}
        client = self.services[service].client
        if method == "GET":
            response = await client.get(path, headers=headers)
        else:
            response = await client.post(path, json=body if body is not None else {}, headers=headers)
        self.responses.append((service, path, response.status_code))
        return response

    async def ok(self, service: str, path: str, org: str, role: str, body: Any = None,
                 expect: int | tuple[int, ...] = (200, 201)) -> dict[str, Any]:  # fmt: skip
        response = await self.call(service, "POST", path, org, role, body)
        wanted = (expect,) if isinstance(expect, int) else expect
        assert response.status_code in wanted, f"{service} POST {path} by {org}: {response.status_code} {response.text}"
        return response.json() if response.content else {}

    def server_errors(self) -> list[tuple[str, str, int]]:
        return [r for r in self.responses if r[2] >= 500]

    # ---- time ----------------------------------------------------------------------------------------------
    @property
    def today(self) -> date:
        return today(self.clock)

    async def move_to(self, day: date, at: time = time(9, 0)) -> None:
        """The clock to ``day`` (Brussels, after the 08:00 timers), every due timer of every service fired."""
        moment = local_moment(day, at)
        assert moment >= self.clock.now(), "time only moves forward"
        self.clock.set(moment)
        for service in self.services.values():
            if service.runtime.timers is not None:
                await service.runtime.timers.run_due_once()
        await self.timers_settled()

    async def timers_settled(self) -> None:
        async def nothing_due() -> bool:
            for name, service in self.services.items():
                if service.runtime.timers is None:
                    continue
                async with service.runtime.pool.acquire() as conn:
                    # A timer that lost an optimistic-concurrency race (two timers of one track due at once
                    # after a jump of the clock, or a consumer writing the same stream) is retried: not a fault.
                    failed = await conn.fetch("""SELECT key, last_error FROM timers WHERE fired_at IS NULL
                                                 AND cancelled_at IS NULL AND attempts > 0
                                                 AND last_error NOT LIKE 'ConcurrencyError%'""")  # fmt: skip
                    assert not failed, (name, [dict(r) for r in failed])
                    waiting = await conn.fetchval("""SELECT count(*) FROM timers WHERE fired_at IS NULL
                                                     AND cancelled_at IS NULL AND next_attempt_at <= $1""",
                                                  self.clock.now())  # fmt: skip
                    if waiting > 0:
                        return False
            return True

        await wait_until(nothing_due, timeout=15)

    # ---- admission -----------------------------------------------------------------------------------------
    async def admit(self, centre: str = PAYOKE) -> Case:
        """A referral by the federal police to ``centre``, screened, accepted, interviewed, consented, admitted;
        returns once legal, tracks and housing all follow the case."""
        region = {PAYOKE: "flanders", PAG_ASA: "brussels-capital", SURYA: "wallonia"}[centre]
        referral = {"target_centre": centre, "region": region, "referrer_file_number": "AN.12.L1.004567/26",
                    "exploitation_types": ["labour-exploitation"], "urgency": [],
                    "signal_ids": ["movement-and-control.identity-documents-withheld",
                                   "work-and-living-conditions.sleeping-at-workplace"],
                    "person": {"names": "Test Person", "date_of_birth": "1999-03-14", "nationality": "NG"}}  # fmt: skip
        rid = (await self.ok("intake", "/referrals", POLICE, "officer", referral))["referral_id"]
        steps = (("screening", {}), ("decision", {"decision": "accept"}), ("interviews", {}),
                 ("consents", {"scope": "guidance"}), ("admission", {"eu_citizen": False}))  # fmt: skip
        view: dict[str, Any] = {}
        for step, body in steps:
            view = await self.ok("intake", f"/referrals/{rid}/{step}", centre, "caseworker", body)
        case = Case(view["case_id"], view["person_id"], rid, centre, [centre])
        await self.followed_everywhere(case)
        return case

    async def followed_everywhere(self, case: Case) -> None:
        checks = {
            "legal": "SELECT 1 FROM legal_cases WHERE case_id = $1",
            "tracks": "SELECT 1 FROM events WHERE case_id = $1 AND event_type = 'TrackOpened'",
            "housing": "SELECT 1 FROM case_registry WHERE case_id = $1",
        }

        async def followed() -> bool:
            for name, sql in checks.items():
                if await self.fetchval(name, sql, case.case_id) is None:
                    return False
            return True

        await wait_until(followed, timeout=60)

    async def fetchval(self, service: str, sql: str, *args: Any) -> Any:
        async with self.services[service].runtime.pool.acquire() as conn:
            return await conn.fetchval(sql, *args)

    async def fetch(self, service: str, sql: str, *args: Any) -> list[Any]:
        async with self.services[service].runtime.pool.acquire() as conn:
            return list(await conn.fetch(sql, *args))

    # ---- legal ---------------------------------------------------------------------------------------------
    async def legal(self, case: Case, path: str, body: dict[str, Any], org: str | None = None,
                    role: str = "caseworker") -> dict[str, Any]:  # fmt: skip
        return await self.ok("legal", f"/cases/{case.case_id}/{path}", org or case.holder, role, body, expect=201)

    async def issue(self, case: Case, document: str | None = None, *, renewal: bool = False) -> dict[str, Any]:
        """The holding centre's request, the Immigration Office's grant."""
        if renewal:
            await self.legal(case, "residence/renewal-requests", {})
        else:
            await self.legal(case, "residence/requests", {"document": document})
        return await self.legal(case, "residence/decisions", {"outcome": "issued"}, IMMIGRATION, "officer")

    async def statement_and_file(self, case: Case) -> None:
        await self.legal(
            case,
            "proceedings/statements",
            {"kind": "complaint", "unit": "police-zone-antwerp", "report_number": "AN.55.L1.012345/2026"},
        )
        await self.legal(case, "proceedings/file", {"office": OFFICE, "file_number": "AN55.98.1234/26"})  # fmt: skip

    async def opinion(self, case: Case, step: str = "a-card-initial") -> None:
        await self.legal(case, "proceedings/opinions", {"step": step, "outcome": "victim"}, OFFICE, "magistrate")

    async def residence(self, case: Case, org: str) -> httpx.Response:
        return await self.call("legal", "GET", f"/cases/{case.case_id}/residence", org, "caseworker")

    async def deadlines(self, centre: str, within_days: int = 400) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        after = ""
        while True:  # every page: the deadlines are a page at a time
            response = await self.call("legal", "GET", f"/centres/{centre}/deadlines?within_days={within_days}"
                                       f"{after}", centre, "caseworker")  # fmt: skip
            assert response.status_code == 200, response.text
            items += response.json()["items"]
            if response.json()["next"] is None:
                return items
            after = f"&after={response.json()['next']}"

    # ---- housing -------------------------------------------------------------------------------------------
    async def shelter(self, centre: str, beds: int = 30) -> str:
        if centre not in self.shelters:
            body = {"name": f"House {centre}", "address": "Rue Secrète 1, 1000 Bruxelles",
                    "beds": [{"bed_id": f"b{n}", "constraints": []} for n in range(beds)]}  # fmt: skip
            self.shelters[centre] = (await self.ok("housing", "/housing/shelters", centre, "housing", body,
                                                   expect=201))["shelter_id"]  # fmt: skip
        return self.shelters[centre]

    async def place(self, case: Case) -> dict[str, Any]:
        await self.shelter(case.holder)
        return await self.ok("housing", f"/housing/cases/{case.case_id}/placement-requests", case.holder,
                             "caseworker", {"urgency": "urgent"}, expect=201)  # fmt: skip

    # ---- transfers (tracks decides; every service applies TransferAccepted through its inbox) ---------------
    async def request_transfer(self, case: Case, to: str, *, by: str | None = None) -> httpx.Response:
        return await self.call("tracks", "POST", f"/tracks/{case.case_id}/transfer", by or case.holder, "manager",
                               {"to_centre": to, "reason": "person-relocated"})  # fmt: skip

    async def answer_transfer(self, case: Case, by: str, answer: str) -> httpx.Response:
        body = {"reason": "no-capacity"} if answer == "decline" else {}
        return await self.call("tracks", "POST", f"/tracks/{case.case_id}/transfer/{answer}", by, "manager", body)

    async def withdraw_transfer(self, case: Case, by: str | None = None) -> httpx.Response:
        return await self.call("tracks", "POST", f"/tracks/{case.case_id}/transfer/withdraw", by or case.holder,
                               "manager", {})  # fmt: skip

    async def transfer(self, case: Case, to: str) -> None:
        """Requested by the holder, accepted by ``to``, applied by every service (bounded wait)."""
        response = await self.request_transfer(case, to)
        assert response.status_code == 200, response.text
        await self.accept(case, to)

    async def accept(self, case: Case, to: str) -> None:
        response = await self.answer_transfer(case, to, "accept")
        assert response.status_code == 200, response.text
        case.holder = to
        case.history.append(to)
        await self.applied(case)

    async def custody_of(self, case: Case) -> dict[str, str | None]:
        """Each service's own record of the centre holding the case (harbour.custody), None where it has none."""
        found: dict[str, str | None] = {}
        for name in ("intake", "legal", "housing"):
            try:
                found[name] = await self.fetchval(
                    name, "SELECT centre FROM case_custody WHERE case_id = $1 ORDER BY seq DESC LIMIT 1", case.case_id
                )
            except Exception as error:  # a service without the table: it keeps no custody at all
                found[name] = f"<{type(error).__name__}>"
        return found

    async def applied(self, case: Case, timeout: float = APPLY_TIMEOUT) -> dict[str, str | None]:
        """Wait (bounded) until intake, legal and housing record ``case.holder`` as holding the case, and the
        milestone facts of each (case_audiences) name it too. Returns what each recorded when the wait ended;
        a service that never applies the transfer shows in the probes that follow, not as a hang."""
        latest: dict[str, str | None] = {}

        async def done() -> bool:
            nonlocal latest
            latest = await self.custody_of(case)
            for name in ("intake", "legal", "housing"):
                owner = await self.fetchval(name, "SELECT owning_centre FROM case_audiences WHERE case_key = $1",
                                            case.case_id)  # fmt: skip
                latest[f"{name}.audiences"] = owner
            return all(v == case.holder for v in latest.values())

        try:
            await wait_until(done, timeout=timeout)
        except TimeoutError:
            pass
        return latest

    # ---- probes: harmless commands (422 for the holder) ----------------------------------------------------
    async def act(self, part: str, case: Case, centre: str) -> int:
        cid = case.case_id
        match part:
            case "intake":
                # A minority disproved on a case where none was established (422), after
                # the access check (403/404).
                body = {"basis": "caseworker-assessment"}
                response = await self.call("intake", "POST", f"/cases/{cid}/minority/disproved", centre, "caseworker",
                                           body)  # fmt: skip
            case "legal":
                # A B-card without a conviction, or after one was issued: always refused (422).
                response = await self.call("legal", "POST", f"/cases/{cid}/residence/requests", centre, "caseworker",
                                           {"document": "b-card"})  # fmt: skip
            case "tracks":
                # Aftercare is entered by closing the track, never by a phase change (422).
                response = await self.call("tracks", "POST", f"/tracks/{cid}/phase", centre, "caseworker",
                                           {"to": "aftercare"})  # fmt: skip
            case "housing":
                # A bed both women-only and men-only fits nobody (422).
                response = await self.call("housing", "POST", f"/housing/cases/{cid}/placement-requests", centre,
                                           "caseworker", {"needs": ["women-only", "men-only"]})  # fmt: skip
            case _:
                raise ValueError(part)
        return response.status_code

    async def acting(self, case: Case) -> dict[str, dict[str, int]]:
        """Per part, the status each centre's probe got."""
        return {part: {c: await self.act(part, case, c) for c in CENTRES} for part in PARTS}

    async def reads(self, case: Case, centre: str) -> dict[str, int]:
        """The status of each read of the case by ``centre``'s caseworker (200 for owner and former holders)."""
        cid = case.case_id
        paths = {
            "intake.case": ("intake", f"/cases/{cid}", {}),
            "intake.history": ("intake", f"/cases/{cid}/history", {}),
            "legal.residence": ("legal", f"/cases/{cid}/residence", {}),
            "legal.proceedings": ("legal", f"/cases/{cid}/proceedings", {}),
            "tracks.track": ("tracks", f"/tracks/{cid}", {}),
            "housing.history": ("housing", f"/housing/cases/{cid}/history", {}),
        }
        found = {}
        for name, (service, path, extra) in paths.items():
            found[name] = (await self.call(service, "GET", path, centre, "caseworker", extra=extra)).status_code
        return found

    async def read_person(self, case: Case, centre: str) -> int:
        """The audited identity read (the holder's caseworker, with a purpose)."""
        response = await self.call("intake", "GET", f"/persons/{case.person_id}", centre, "caseworker", extra=PURPOSE)
        return response.status_code

    # ---- milestones ----------------------------------------------------------------------------------------
    async def event_ids(self, service: str, case: Case, event_type: str) -> list[UUID]:
        rows = await self.fetch(service, "SELECT event_id FROM events WHERE case_id = $1 AND event_type = $2 "
                                "ORDER BY global_position", case.case_id, event_type)  # fmt: skip
        return [r["event_id"] for r in rows]

    async def milestone_audiences(self, event_id: UUID, audiences: tuple[str, ...] = CENTRES) -> list[str]:
        """The audiences whose topic carries the milestone of ``event_id`` (its id is uuid5(event, audience))."""
        found = []
        for audience in audiences:
            wanted = str(uuid5(event_id, audience))
            records = await read_topic(self.bootstrap, f"milestones.{audience}.v1")
            if any(dict((k, v.decode()) for k, v in (r.headers or [])).get("milestone_id") == wanted for r in records):
                found.append(audience)
        return found


@asynccontextmanager
async def whole_platform(pg_server_url: str, bootstrap: str, clock: ManualClock | None = None,
                         without: tuple[str, ...] = (), **overrides: Any) -> AsyncIterator[Whole]:  # fmt: skip
    """Every service of the registry on ``bootstrap`` (but ``without``: feeds, say, where a test reads the
    milestone topics itself), each with its own fresh database, sharing one clock."""
    clock = clock or ManualClock(START)
    # Consumers must find their topics at start (a missing topic is only noticed at a later metadata refresh).
    await ensure_topics(bootstrap, list(topic_table(include_dlq=False)))
    settings = fast_settings(**{**SETTINGS, **overrides})
    starts = {name: running_service(registry.definition(name), pg_server_url=pg_server_url, bootstrap=bootstrap,
                                    settings=settings, clock=clock,
                                    database=f"harbour_test_{name}_{uuid.uuid4().hex[:8]}")
              for name in registry.available() if name not in without}  # fmt: skip
    async with running_services(starts) as services:
        yield Whole(services, clock, bootstrap)


def days(n: int) -> timedelta:
    return timedelta(days=n)
