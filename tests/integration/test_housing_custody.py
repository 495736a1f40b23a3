"""A transfer moves the case's housing (issue 13): housing applies tracks' ``TransferAccepted`` from the real
tracks topic, records the custody period, and from then on only the receiving centre acts on the case.

Placements stay where they are: a person in a Payoke shelter sleeps there after a transfer to Sürya until
Sürya moves them, and Payoke, as the shelter's host, can still record their exit. The former centre reads the
history of its own period and nothing after; a centre that never held the case gets 404.

The fixture gives each centre one shelter of twenty plain beds and one family room, occupied: a request that
needs a family room always waits, so ``record`` can add one fact per centre and case, at any time, and no
other test's freed plain bed ever serves it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from harbour import custody
from harbour.kafka.consumer import HandlerContext
from harbour.store import Actor, CommandContext, RecordedEvent
from schemas.tracks import TransferAccepted
from services.housing import handlers
from services.housing.app import DEFINITION
from tests.support.custody_contract import CENTRES, CustodyContract
from tests.support.harness import RunningService, running_service
from tests.support.housing_env import PURPOSE, known, new_id, open_case, register_shelter, request_bed
from tests.support.upstream import Upstream, upstream
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
PAYOKE, PAG_ASA, SURYA = CENTRES
FAMILY = {"needs": ["family-room"], "urgency": "planned"}


@dataclass
class World:
    housing: RunningService
    intake: Upstream
    tracks: Upstream
    shelters: dict[str, str]

    def staff(self, centre: str, role: str = "caseworker") -> dict[str, str]:
        return self.housing.token(centre, role)

    async def holder(self, case_id: str) -> str | None:
        async with self.housing.runtime.pool.acquire() as conn:
            held = await custody.load(conn, case_id)
            return held.centre if held is not None else None

    async def transfer(self, case_id: str, from_centre: str, to_centre: str) -> RecordedEvent:
        """Tracks' real TransferAccepted on its real topic, consumed by housing (waited for)."""
        accepted = TransferAccepted(case_id=case_id, from_centre=from_centre, to_centre=to_centre,  # type: ignore[arg-type]
                                    caseworker_id="unassigned", accepted_on=date(2026, 1, 5))  # fmt: skip
        [recorded] = await self.tracks.publish(f"track-{case_id}", case_id, [accepted],
                                               actor=Actor(to_centre, "manager", "m-1"))  # fmt: skip

        async def applied() -> bool:
            async with self.housing.runtime.pool.acquire() as conn:
                return await conn.fetchval("SELECT 1 FROM case_custody WHERE case_id = $1 AND seq = $2", case_id,
                                           recorded.stream_version) is not None  # fmt: skip

        await wait_until(applied, timeout=40)
        return recorded

    async def deliver(self, recorded: RecordedEvent) -> None:
        """Hand a tracks event to housing's handler in one transaction, as the inbox consumer does, but past the
        inbox's deduplication: the handler itself must not let a redelivered or older transfer move the case."""
        rt = self.housing.runtime
        async with rt.store.transaction() as conn:
            command = CommandContext(actor=Actor.system("housing.transfer-accepted"), causation_id=recorded.event_id)
            await handlers.on_transfer_accepted(HandlerContext(conn, rt, command, recorded), recorded)

    async def stored(self) -> int:
        async with self.housing.runtime.pool.acquire() as conn:
            return await conn.fetchval("SELECT count(*) FROM events")


@pytest.fixture(scope="module")
async def world(pg_server_url, broker) -> AsyncIterator[World]:
    if not broker.is_running:
        broker.start()
    async with (
        running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=broker.bootstrap) as housing,
        upstream("intake", pg_server_url=pg_server_url, bootstrap=broker.bootstrap) as intake,
        upstream("tracks", pg_server_url=pg_server_url, bootstrap=broker.bootstrap) as tracks,
    ):
        shelters = {}
        for centre in CENTRES:
            beds = {f"p{n}": [] for n in range(1, 21)} | {"family": ["family-room"]}
            shelters[centre] = await register_shelter(housing, centre, beds)
        world = World(housing, intake, tracks, shelters)
        for centre in CENTRES:  # the family room of each centre is taken for good
            filler, _ = await open_case(housing, intake, centre)
            assert (await request_bed(housing, centre, filler, needs=["family-room"]))["bed_id"] == "family"
        yield world


class TestHousingCustody(CustodyContract):
    """The shared custody promise (tests/support/custody_contract.py), held by housing."""

    @pytest.fixture(autouse=True)
    def _world(self, world: World) -> None:
        self.world = world

    def new_case_id(self) -> str:
        return new_id("case")

    async def open_case(self, case_id: str, centre: str) -> None:
        from schemas.intake import CaseOpened, Centre, Region

        opened = CaseOpened(case_id=case_id, referral_id=new_id("ref"), centre=Centre(centre), person_id=new_id("p"),
                            minor=False, eu_citizen=False, needs_shelter_tonight=False,
                            referring_organisation_id="police-federal", region=Region.FLANDERS,
                            opened_on=date(2026, 1, 5))  # fmt: skip
        await self.world.intake.publish(f"case-{case_id}", case_id, [opened])
        await wait_until(lambda: known(self.world.housing, case_id), timeout=40)

    async def transfer(self, case_id: str, from_centre: str, to_centre: str) -> None:
        await self.world.transfer(case_id, from_centre, to_centre)

    async def redeliver_transfers(self, case_id: str) -> None:
        """Every TransferAccepted of the case handed to the handler again, newest first (the oldest last)."""
        accepted = await self.world.tracks.runtime.store.read_stream(f"track-{case_id}")
        assert len(accepted) >= 1
        for recorded in reversed(accepted):
            await self.world.deliver(recorded)

    async def act(self, case_id: str, centre: str) -> int:
        # A move dated 1999: through the access gate it breaks a date rule (422) and changes nothing.
        response = await self.world.housing.client.post(
            f"/housing/cases/{case_id}/moves", json={"to": "transitional", "on": "1999-06-01"},
            headers=self.world.staff(centre),
        )  # fmt: skip
        if response.status_code == 422:
            assert response.json()["rule"] == "move-not-before-case-opened", response.text
        return response.status_code

    async def record(self, case_id: str, centre: str) -> Any:
        outcome = await request_bed(self.world.housing, centre, case_id, **FAMILY)
        assert outcome["status"] == "waitlisted", outcome
        return outcome["request_id"]

    async def history(self, case_id: str, centre: str) -> list[Any] | None:
        response = await self.world.housing.client.get(f"/housing/cases/{case_id}/history",
                                                       headers=self.world.staff(centre))  # fmt: skip
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        return [e["request_id"] for e in response.json()["items"] if e["event_type"] == "PlacementRequested"]


# -- adversarial scenarios --------------------------------------------------------------------------------


async def _case(world: World, centre: str = PAYOKE) -> str:
    case_id, _ = await open_case(world.housing, world.intake, centre)
    return case_id


async def test_transfers_applied_out_of_order_and_again_leave_the_case_with_the_latest_receiver(world: World):
    case_id = await _case(world)
    first = TransferAccepted(case_id=case_id, from_centre=PAYOKE, to_centre=PAG_ASA, caseworker_id="unassigned",  # type: ignore[arg-type]
                             accepted_on=date(2026, 1, 5))  # fmt: skip
    second = TransferAccepted(case_id=case_id, from_centre=PAG_ASA, to_centre=SURYA, caseworker_id="unassigned",  # type: ignore[arg-type]
                              accepted_on=date(2026, 1, 6))  # fmt: skip
    # Stored by the tracks stand-in as versions 1 and 2 of the track, but never relayed: only handed over below.
    one, two = await world.tracks.runtime.store.append(
        stream_id=f"track-{case_id}", stream_type="track", case_id=case_id, expected_version=None,
        events=[first, second], context=CommandContext(actor=Actor(SURYA, "manager", "m-1")),
    )  # fmt: skip
    assert (one.stream_version, two.stream_version) == (1, 2)
    await world.deliver(two)  # seq 2 first: Sürya holds the case
    assert await world.holder(case_id) == SURYA
    await world.deliver(one)  # seq 1 late: Sürya still holds it
    await world.deliver(two)
    await world.deliver(one)
    assert await world.holder(case_id) == SURYA
    async with world.housing.runtime.pool.acquire() as conn:
        rows = await conn.fetch("SELECT seq, centre FROM case_custody WHERE case_id = $1 ORDER BY seq", case_id)
        registry = await conn.fetchval("SELECT centre FROM case_registry WHERE case_id = $1", case_id)
    assert [(r["seq"], r["centre"]) for r in rows] == [(0, PAYOKE), (1, PAG_ASA), (2, SURYA)]
    assert registry == SURYA
    statuses = {c: await TestHousingCustody.act(_probe(world), case_id, c) for c in CENTRES}
    assert statuses == {PAYOKE: 403, PAG_ASA: 403, SURYA: 422}


def _probe(world: World) -> TestHousingCustody:
    probe = TestHousingCustody()
    probe.world = world
    return probe


async def test_a_transfer_consumed_before_the_case_opened_still_leaves_the_receiver_holding_it(world: World):
    case_id = new_id("case")
    early = TransferAccepted(case_id=case_id, from_centre=PAYOKE, to_centre=SURYA, caseworker_id="unassigned",  # type: ignore[arg-type]
                             accepted_on=date(2026, 1, 6))  # fmt: skip
    [recorded] = await world.tracks.runtime.store.append(
        stream_id=f"track-{case_id}", stream_type="track", case_id=case_id, expected_version=None, events=[early],
        context=CommandContext(actor=Actor(SURYA, "manager", "m-1")),
    )  # fmt: skip
    await world.deliver(recorded)
    r = await world.housing.client.get(f"/housing/cases/{case_id}/history", headers=world.staff(SURYA))
    assert r.status_code == 404  # housing does not follow the case before intake's admission
    await _probe(world).open_case(case_id, PAYOKE)
    assert await world.holder(case_id) == SURYA
    async with world.housing.runtime.pool.acquire() as conn:
        assert await conn.fetchval("SELECT centre FROM case_registry WHERE case_id = $1", case_id) == SURYA
    statuses = {c: await _probe(world).act(case_id, c) for c in CENTRES}
    assert statuses == {PAYOKE: 403, PAG_ASA: 404, SURYA: 422}


async def test_after_a_transfer_the_former_centre_gets_403_on_every_command_and_a_stranger_404(world: World):
    case_id = await _case(world)
    own_request = (await request_bed(world.housing, PAYOKE, case_id, **FAMILY))["request_id"]
    await world.transfer(case_id, PAYOKE, SURYA)
    before = await world.stored()
    commands: list[tuple[str, dict[str, Any]]] = [
        (f"/housing/cases/{case_id}/placement-requests", {}),
        (f"/housing/cases/{case_id}/cross-centre-requests", {"host_centre": PAG_ASA}),
        (f"/housing/requests/{own_request}/withdraw", {"reason": "no-longer-needed"}),
        (f"/housing/cases/{case_id}/moves", {"to": "transitional"}),
        (f"/housing/cases/{case_id}/moves", {"to": "independent", "address": "Rue Neuve 2, 1000 Bruxelles"}),
        (f"/housing/cases/{case_id}/exit", {"reason": "moved-on"}),
    ]
    answers = {}
    for centre, role in ((PAYOKE, "caseworker"), (PAYOKE, "manager"), (PAG_ASA, "caseworker"),
                         (PAG_ASA, "manager")):  # fmt: skip
        for path, body in commands:
            r = await world.housing.client.post(path, json=body, headers=world.staff(centre, role))
            answers[(centre, role, path, body.get("to"))] = r.status_code
            assert r.headers["content-type"].startswith("application/problem+json"), r.text
    assert len(answers) == 24
    assert {k: v for k, v in answers.items() if k[0] == PAYOKE} == {k: 403 for k in answers if k[0] == PAYOKE}
    assert {k: v for k, v in answers.items() if k[0] == PAG_ASA} == {k: 404 for k in answers if k[0] == PAG_ASA}
    for centre, expected in ((PAYOKE, 403), (PAG_ASA, 404)):
        r = await world.housing.client.get(f"/housing/cases/{case_id}/independent-address",
                                           headers={**world.staff(centre), **PURPOSE})  # fmt: skip
        assert r.status_code == expected, r.text
    assert await world.stored() == before, "a refused command recorded something"
    # The receiving centre acts: it withdraws the request Payoke left open in Payoke's own waiting list.
    r = await world.housing.client.post(f"/housing/requests/{own_request}/withdraw",
                                        json={"reason": "no-longer-needed"}, headers=world.staff(SURYA))  # fmt: skip
    assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text


async def test_a_person_in_the_former_centres_shelter_stays_there_until_the_receiver_moves_them(world: World):
    case_id = await _case(world)
    placed = await request_bed(world.housing, PAYOKE, case_id)
    assert placed["status"] == "assigned" and placed["shelter_id"] == world.shelters[PAYOKE]
    await world.transfer(case_id, PAYOKE, SURYA)
    async with world.housing.runtime.pool.acquire() as conn:
        bed = await conn.fetchrow("SELECT shelter_id, bed_id FROM housing_beds WHERE occupant = $1", case_id)
    assert (bed["shelter_id"], bed["bed_id"]) == (placed["shelter_id"], placed["bed_id"]), "the transfer moved a bed"
    # The receiver may not ask for a second bed while the person sleeps in one (a bed counted twice) ...
    r = await world.housing.client.post(f"/housing/cases/{case_id}/placement-requests", json={},
                                        headers=world.staff(SURYA))  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "case_id", r.text
    # ... a move dated before the person entered the Payoke bed is implausible ...
    r = await world.housing.client.post(f"/housing/cases/{case_id}/moves", json={"to": "transitional",
                                        "on": "2035-01-01"}, headers=world.staff(SURYA))  # fmt: skip
    assert r.status_code == 422 and r.json()["rule"] == "move-not-in-the-future", r.text
    # ... and its move frees the bed in Payoke's network, where Payoke's waiting list is served.
    r = await world.housing.client.post(f"/housing/cases/{case_id}/moves", json={"to": "transitional"},
                                        headers=world.staff(SURYA))  # fmt: skip
    assert r.status_code == 200 and r.json()["stage"] == "transitional", r.text
    async with world.housing.runtime.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM housing_beds WHERE occupant = $1", case_id) == 0
        exited = await conn.fetch(
            "SELECT stream_id, actor_org FROM events WHERE case_id = $1 AND event_type = 'PlacementExited'", case_id
        )
    assert [(r["stream_id"], r["actor_org"]) for r in exited] == [(f"shelter-network-{PAYOKE}", SURYA)]


async def test_the_host_of_the_shelter_records_the_exit_of_a_person_whose_case_moved_on(world: World):
    case_id = await _case(world)
    assert (await request_bed(world.housing, PAYOKE, case_id))["status"] == "assigned"
    await world.transfer(case_id, PAYOKE, PAG_ASA)
    # Payoke, the former centre, acts on nothing of the case but its own house's door:
    r = await world.housing.client.post(f"/housing/cases/{case_id}/placement-requests", json={},
                                        headers=world.staff(PAYOKE))  # fmt: skip
    assert r.status_code == 403, r.text
    r = await world.housing.client.post(f"/housing/cases/{case_id}/exit", json={"reason": "left-without-notice",
                                        "on": "1999-01-01"}, headers=world.staff(PAYOKE))  # fmt: skip
    assert r.status_code == 422 and r.json()["rule"] == "exit-not-before-housed-since", r.text
    r = await world.housing.client.post(f"/housing/cases/{case_id}/exit", json={"reason": "left-without-notice"},
                                        headers=world.staff(PAYOKE, "housing"))  # fmt: skip
    assert r.status_code == 200 and r.json()["stage"] is None, r.text
    # Once the person left its house, Payoke is a former centre like any other: no second exit, no move.
    for path, body in ((f"/housing/cases/{case_id}/exit", {"reason": "moved-on"}),
                       (f"/housing/cases/{case_id}/moves", {"to": "transitional"})):  # fmt: skip
        r = await world.housing.client.post(path, json=body, headers=world.staff(PAYOKE))
        assert r.status_code == 403, r.text
    # The holder sees the whole path; Payoke its own period, which ends at the hand-over (not its exit after it).
    owner = (await world.housing.client.get(f"/housing/cases/{case_id}/history", headers=world.staff(PAG_ASA))).json()
    former = (await world.housing.client.get(f"/housing/cases/{case_id}/history", headers=world.staff(PAYOKE))).json()
    assert [e["event_type"] for e in owner["items"]] == [
        "PlacementRequested", "BedAssigned", "PersonMoved", "PlacementExited", "HousingEnded",
    ]  # fmt: skip
    assert [e["event_type"] for e in former["items"]] == ["PlacementRequested", "BedAssigned", "PersonMoved"]


async def test_a_chained_transfer_leaves_each_former_centre_its_own_period_of_the_history(world: World):
    case_id = await _case(world)
    mine = {PAYOKE: await _probe(world).record(case_id, PAYOKE)}
    await world.transfer(case_id, PAYOKE, PAG_ASA)
    mine[PAG_ASA] = await _probe(world).record(case_id, PAG_ASA)
    await world.transfer(case_id, PAG_ASA, SURYA)
    mine[SURYA] = await _probe(world).record(case_id, SURYA)
    seen = {c: await _probe(world).history(case_id, c) for c in CENTRES}
    assert seen == {PAYOKE: [mine[PAYOKE]], PAG_ASA: [mine[PAYOKE], mine[PAG_ASA]],
                    SURYA: [mine[PAYOKE], mine[PAG_ASA], mine[SURYA]]}  # fmt: skip
    assert {c: await _probe(world).act(case_id, c) for c in CENTRES} == {PAYOKE: 403, PAG_ASA: 403, SURYA: 422}
    stranger = await _case(world, SURYA)
    assert await _probe(world).history(stranger, PAYOKE) is None
