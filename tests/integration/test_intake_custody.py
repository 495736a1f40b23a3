"""A transfer moves the intake file: the custody contract for intake, over the real service, broker and consumer.

Tracks' ``TransferAccepted`` is put on tracks.events.v1 by a real upstream store and relay; intake's consumer
applies it through its inbox (harbour.custody). The contract (tests/support/custody_contract.py) then holds:
the receiving centre acts, the former one gets 403 and reads its own period, a stranger 404. The tests after
it try what an adversary would: redeliveries, a transfer of a case intake never opened, every command of the
former centre, and the receiving centre's identity read (audited with its purpose).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from harbour import custody
from harbour.clock import today
from schemas.tracks import Centre, TransferAccepted
from services.intake.app import DEFINITION
from tests.support.custody_contract import CENTRES, CustodyContract
from tests.support.harness import RunningService, running_service
from tests.support.intake_flow import PERSON, IntakeClient, clock
from tests.support.kafka import headers_of, read_topic
from tests.support.poison import committed_offset
from tests.support.upstream import Upstream, upstream
from tests.support.waiting import wait_until

TOPIC = "tracks.events.v1"


@dataclass
class Env:
    service: RunningService
    intake: IntakeClient
    tracks: Upstream
    bootstrap: str
    ids: dict[str, str] = field(default_factory=dict)  # the contract's case id -> the id intake gave the case
    kinds: dict[str, str] = field(default_factory=dict)  # the minority last established on a case

    @property
    def runtime(self) -> Any:
        return self.service.runtime


@pytest.fixture(scope="module")
async def env(pg_server_url: str, broker) -> AsyncIterator[Env]:
    async with (
        running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=broker.bootstrap, clock=clock()) as svc,
        upstream("tracks", pg_server_url=pg_server_url, bootstrap=broker.bootstrap) as tracks,
    ):
        yield Env(svc, IntakeClient(svc), tracks, broker.bootstrap)


async def admitted_at(env: Env, centre: str) -> dict[str, Any]:
    return await env.intake.referral_at("admitted", target_centre=centre, person=PERSON)


async def transfer(env: Env, case_id: str, from_centre: str, to_centre: str) -> int:
    """Tracks accepts the transfer (a real event on its topic); returns once intake's consumer applied it."""
    accepted = TransferAccepted(
        case_id=case_id,
        from_centre=Centre(from_centre),
        to_centre=Centre(to_centre),
        caseworker_id=f"cw-{uuid.uuid4().hex[:6]}",
        accepted_on=today(env.runtime.clock),
    )
    recorded = await env.tracks.publish(f"track-{case_id}", case_id, [accepted])
    seq = recorded[0].stream_version

    async def applied() -> bool:
        async with env.runtime.pool.acquire() as conn:
            return bool(await conn.fetchval("SELECT 1 FROM case_custody WHERE case_id = $1 AND seq = $2",
                                            case_id, seq))  # fmt: skip

    await wait_until(applied, timeout=30)
    return seq


async def redeliver(env: Env, case_id: str) -> int:
    """Put every TransferAccepted record of the case on the topic once more, newest first (so the oldest
    arrives last), byte for byte; returns once intake's consumer has gone past them. Returns how many."""
    found = [
        r
        for r in await read_topic(env.bootstrap, TOPIC)
        if headers_of(r).get("case_id") == case_id and headers_of(r).get("event_type") == "TransferAccepted"
    ]
    # One record per transfer (an earlier redelivery left copies on the topic): the first of each event id.
    first: dict[str, Any] = {}
    for r in found:
        first.setdefault(headers_of(r)["event_id"], r)
    records = list(first.values())  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=env.bootstrap)
    await producer.start()
    try:
        last = None
        for r in reversed(records):
            last = await producer.send_and_wait(TOPIC, r.value, key=r.key, partition=r.partition,
                                                headers=list(r.headers))  # fmt: skip
    finally:
        await producer.stop()
    assert last is not None
    group = "intake.transfers" + env.service.settings.consumer_group_suffix

    async def consumed() -> bool:
        offset = await committed_offset(env.bootstrap, group, TOPIC, last.partition)
        return offset is not None and offset > last.offset

    await wait_until(consumed, timeout=30)
    return len(records)


async def periods(env: Env, case_id: str) -> list[tuple[int, str]]:
    async with env.runtime.pool.acquire() as conn:
        rows = await conn.fetch("SELECT seq, centre FROM case_custody WHERE case_id = $1 ORDER BY seq", case_id)
    return [(r["seq"], r["centre"]) for r in rows]


class TestIntakeCustody(CustodyContract):
    @pytest.fixture(autouse=True)
    def _env(self, env: Env) -> None:
        self.env = env

    def new_case_id(self) -> str:
        return f"probe-{uuid.uuid4().hex}"  # intake gives the case its id at admission: open_case maps it

    async def open_case(self, case_id: str, centre: str) -> None:
        self.env.ids[case_id] = (await admitted_at(self.env, centre))["case_id"]

    async def transfer(self, case_id: str, from_centre: str, to_centre: str) -> None:
        await transfer(self.env, self.env.ids[case_id], from_centre, to_centre)

    async def redeliver_transfers(self, case_id: str) -> None:
        await redeliver(self.env, self.env.ids[case_id])

    async def act(self, case_id: str, centre: str) -> int:
        # A minority dated tomorrow: the holder is refused by the date rule (422), after access said it may act.
        tomorrow = today(self.env.runtime.clock) + timedelta(days=1)
        response = await self.env.intake.client.post(
            f"/cases/{self.env.ids[case_id]}/minority",
            json={"kind": "unaccompanied", "basis": "age-assessment", "on": tomorrow.isoformat()},
            headers=self.env.intake.centre(centre),
        )
        return response.status_code

    async def record(self, case_id: str, centre: str) -> Any:
        real = self.env.ids[case_id]
        kind = "unaccompanied" if self.env.kinds.get(real) == "accompanied" else "accompanied"
        await self.env.intake.command(f"/cases/{real}/minority", {"kind": kind, "basis": "identity-document"},
                                      org=centre)  # fmt: skip
        self.env.kinds[real] = kind
        response = await self.env.intake.client.get(f"/cases/{real}/history", headers=self.env.intake.centre(centre))
        entries = response.json()["items"]
        return [e["event_id"] for e in entries if e["event_type"] == "MinorityEstablished"][-1]

    async def history(self, case_id: str, centre: str) -> list[Any] | None:
        response = await self.env.intake.client.get(f"/cases/{self.env.ids[case_id]}/history",
                                                    headers=self.env.intake.centre(centre))  # fmt: skip
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        return [e["event_id"] for e in response.json()["items"]]


# ---- as an adversary -----------------------------------------------------------------------------------------


async def test_a_transfer_delivered_three_times_is_applied_once(env):
    payoke, pag_asa, _ = CENTRES
    case_id = (await admitted_at(env, payoke))["case_id"]
    await transfer(env, case_id, payoke, pag_asa)
    assert await redeliver(env, case_id) == 1
    assert await redeliver(env, case_id) == 1
    assert await periods(env, case_id) == [(0, payoke), (1, pag_asa)]
    async with env.runtime.pool.acquire() as conn:
        inbox = await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer LIKE 'intake.transfers%'")
        held = await custody.held_by(conn, pag_asa)
    assert case_id in held and held.count(case_id) == 1
    assert inbox >= 1


async def test_a_transfer_of_a_case_intake_never_opened_neither_stops_the_consumer_nor_gives_access(env):
    payoke, pag_asa, surya = CENTRES
    stray = f"case-{uuid.uuid4()}"
    await transfer(env, stray, payoke, surya)  # applied (custody converges), without a case behind it
    case_id = (await admitted_at(env, payoke))["case_id"]
    await transfer(env, case_id, payoke, pag_asa)  # the consumer is still going
    for path in (f"/cases/{stray}", f"/cases/{stray}/history"):
        response = await env.intake.client.get(path, headers=env.intake.centre(surya))
        assert response.status_code == 404, response.text
    minority = await env.intake.client.post(f"/cases/{stray}/minority", headers=env.intake.centre(surya),
                                            json={"kind": "accompanied", "basis": "declared-age"})  # fmt: skip
    assert minority.status_code == 404
    listed = (await env.intake.client.get("/cases?limit=200", headers=env.intake.centre(surya))).json()["items"]
    assert stray not in {c["case_id"] for c in listed}


async def test_the_receiving_centre_lists_reads_and_acts_on_the_case_and_the_former_one_only_reads_its_period(env):
    payoke, pag_asa, _ = CENTRES
    view = await admitted_at(env, payoke)
    case_id, rid, pid = view["case_id"], view["referral_id"], view["person_id"]
    await transfer(env, case_id, payoke, pag_asa)

    async def listed(centre: str) -> set[str]:
        found: set[str] = set()
        after = 0
        while True:
            page = (await env.intake.client.get(f"/cases?after={after}&limit=200",
                                                headers=env.intake.centre(centre))).json()  # fmt: skip
            found |= {c["case_id"] for c in page["items"]}
            if page["next_after"] is None:
                return found
            after = page["next_after"]

    assert case_id in await listed(pag_asa) and case_id not in await listed(payoke)
    body = {"kind": "unaccompanied", "basis": "age-assessment"}
    established = await env.intake.command(f"/cases/{case_id}/minority", body, org=pag_asa)
    assert (established["centre"], established["admitted_by"]) == (pag_asa, payoke)
    assert established["minority"] == "unaccompanied"
    # The former centre sees the case as it handed it over: no minority, which was established after.
    former = (await env.intake.client.get(f"/cases/{case_id}", headers=env.intake.centre(payoke))).json()
    assert (former["minor"], former["minority"]) == (False, None)
    # Every command the former centre could try: 403 (it knows the case; it is no longer its to act on).
    commands = [
        (f"/cases/{case_id}/minority", {"kind": "accompanied", "basis": "declared-age"}, "caseworker"),
        (f"/cases/{case_id}/minority/disproved", {"basis": "identity-document"}, "caseworker"),
        (f"/referrals/{rid}/consents", {"scope": "contact-by-phone"}, "caseworker"),
        (f"/referrals/{rid}/consents/guidance/withdrawal", {}, "caseworker"),
        (f"/referrals/{rid}/identity", {"languages": ["fr"]}, "caseworker"),
        (f"/referrals/{rid}/minor", {"reason": "declared-age"}, "caseworker"),
        (f"/referrals/{rid}/admission", {"eu_citizen": False}, "caseworker"),
        (f"/referrals/{rid}/interviews", {}, "caseworker"),
        (f"/persons/{pid}/erasure", {"reason": "person-request"}, "manager"),
    ]
    statuses = [(await env.intake.client.post(path, json=body, headers=env.intake.centre(payoke, role))).status_code
                for path, body, role in commands]  # fmt: skip
    assert statuses == [403] * len(commands)
    reads = [(await env.intake.client.get(f"/persons/{pid}", headers={**env.intake.centre(payoke),
                                                                       "Harbour-Purpose": "follow-up"})).status_code,
             (await env.intake.client.get(f"/persons/{pid}/reads",
                                          headers=env.intake.centre(payoke, "manager"))).status_code]  # fmt: skip
    assert reads == [403, 403]


async def test_the_receiving_centre_reads_the_identity_and_the_read_is_audited_with_its_purpose(env):
    payoke, _, surya = CENTRES
    case = await admitted_at(env, payoke)
    await transfer(env, case["case_id"], payoke, surya)
    person = await env.intake.client.get(f"/persons/{case['person_id']}", headers={
        **env.intake.centre(surya), "Harbour-Purpose": "hand-over: first meeting in Liege"})  # fmt: skip
    assert person.status_code == 200, person.text
    assert person.json()["identity"]["names"] == PERSON["names"]
    reads = (await env.intake.client.get(f"/persons/{case['person_id']}/reads",
                                         headers=env.intake.centre(surya, "manager"))).json()  # fmt: skip
    assert reads["next"] is None  # one page holds them all: none is left unread
    assert [(r["org"], r["role"], r["purpose"]) for r in reads["items"]] == [
        (surya, "caseworker", "hand-over: first meeting in Liege")
    ]
