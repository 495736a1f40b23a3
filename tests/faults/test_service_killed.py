"""A service process SIGKILLed mid-load: nothing lost, nothing applied twice, no 500 — once for the consumer
(legal, killed between a poll and its commit) and once for the producer (intake, killed with commands in
flight and events not yet relayed).

Clients behave as the platform asks them to: every command carries an ``Idempotency-Key`` and a client that
gets no answer (the connection dropped) or a 503 sends the same command again with the same key.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import pytest

from harbour.auth import issue_token
from harbour.db import database_url, drop_database
from harbour.settings import HarbourSettings
from tests.support.intake_flow import PAYOKE, POLICE, SIGNALS
from tests.support.platform_load import STEPS
from tests.support.processes import ServiceProcess, process_env

pytestmark = pytest.mark.integration

CHAINS = 36
WORKERS = 4
# A retry is bounded in count, not in time: a service down for a restart answers within a few dozen tries.
MAX_TRIES = 400


class Tally:
    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.dropped = 0  # requests that got no answer (the process died under them)
        self.admitted: list[str] = []
        self.failed: list[str] = []


async def _send(client: httpx.AsyncClient, base: ServiceProcess, path: str, body: dict, headers: dict[str, str],
                tally: Tally) -> httpx.Response | None:  # fmt: skip
    """Send until the service gives an answer that is not 'try again'; the same Idempotency-Key every time."""
    for _ in range(MAX_TRIES):
        try:
            response = await client.post(f"{base.url}{path}", json=body, headers=headers)
        except httpx.TransportError:
            tally.dropped += 1
            await asyncio.sleep(0.1)
            continue
        tally.statuses[response.status_code] += 1
        if response.status_code in (429, 503):
            await asyncio.sleep(0.1)
            continue
        return response
    return None


async def _chain(client: httpx.AsyncClient, intake: ServiceProcess, settings: HarbourSettings, tally: Tally) -> None:
    police = {"Authorization": f"Bearer {issue_token(POLICE, 'officer', 'agent-7', settings=settings)}"}
    centre = {"Authorization": f"Bearer {issue_token(PAYOKE, 'caseworker', 'cw-1', settings=settings)}"}
    referral = {"target_centre": PAYOKE, "region": "flanders", "exploitation_types": ["labour-exploitation"],
                "signal_ids": SIGNALS, "urgency": []}  # fmt: skip
    response = await _send(client, intake, "/referrals", referral,
                           {**police, "Idempotency-Key": uuid.uuid4().hex}, tally)  # fmt: skip
    if response is None or response.status_code != 201:
        tally.failed.append(f"refer: {response and response.status_code}")
        return
    rid = response.json()["referral_id"]
    for path, body, status in STEPS:
        response = await _send(client, intake, path.format(rid=rid), body,
                               {**centre, "Idempotency-Key": uuid.uuid4().hex}, tally)  # fmt: skip
        if response is None or response.status_code != status:
            tally.failed.append(f"{path}: {response and response.status_code}")
            return
    tally.admitted.append(response.json()["case_id"])


async def _count(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def _wait_for(predicate, what: str, *, tries: int = 900) -> None:
    for _ in range(tries):
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


async def test_a_consumer_and_a_producer_killed_mid_load_lose_nothing_and_apply_nothing_twice(
    pg_server_url: str, running_broker, tmp_path: Path
) -> None:
    prefix = f"harbour_test_kill_{uuid.uuid4().hex[:8]}_"
    var_dir = tmp_path / "var"
    env = process_env(pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap, prefix=prefix, var_dir=var_dir)
    settings = HarbourSettings(var_dir=var_dir)
    intake = ServiceProcess("intake", env, tmp_path / "intake.log")
    legal = ServiceProcess("legal", env, tmp_path / "legal.log")
    tally = Tally()
    try:
        intake.start()
        legal.start()
        async with httpx.AsyncClient(timeout=30) as client:
            queue: asyncio.Queue[int] = asyncio.Queue()
            for i in range(CHAINS):
                queue.put_nowait(i)

            async def worker() -> None:
                while not queue.empty():
                    queue.get_nowait()
                    await _chain(client, intake, settings, tally)

            workers = [asyncio.create_task(worker()) for _ in range(WORKERS)]

            async def admitted_at_least(n: int) -> bool:
                return len(tally.admitted) >= n or all(w.done() for w in workers)

            await _wait_for(lambda: admitted_at_least(CHAINS // 4), "a quarter admitted")
            intake.kill()  # commands in flight, events stored but not yet relayed
            await asyncio.to_thread(intake.start)
            await _wait_for(lambda: admitted_at_least(CHAINS // 2), "half admitted")
            legal.kill()  # between a poll and its commit, most likely: its consumers were busy with the load
            await _wait_for(lambda: admitted_at_least(CHAINS * 3 // 4), "three quarters admitted")
            await asyncio.to_thread(legal.start)
            await asyncio.gather(*workers)

        intake_db = database_url(pg_server_url, f"{prefix}intake")
        legal_db = database_url(pg_server_url, f"{prefix}legal")
        opened = await _count(intake_db, "SELECT case_id FROM events WHERE event_type = 'CaseOpened'")

        async def legal_has_every_case() -> bool:
            rows = await _count(legal_db, "SELECT count(*) AS n FROM events WHERE event_type = 'LegalCaseRegistered'")
            return rows[0]["n"] >= len(opened)

        await _wait_for(legal_has_every_case, "legal has every case")
        registered = Counter(r["case_id"] for r in await _count(
            legal_db, "SELECT case_id FROM events WHERE event_type = 'LegalCaseRegistered'"))  # fmt: skip
        procedures = Counter(r["case_id"] for r in await _count(
            legal_db, "SELECT case_id FROM events WHERE event_type = 'ResidenceProcedureOpened'"))  # fmt: skip
        inbox = await _count(legal_db, "SELECT count(*) AS n, count(DISTINCT (consumer, event_id)) AS d FROM inbox")

        opened_ids = Counter(r["case_id"] for r in opened)
        assert legal.starts == 2 and intake.starts == 2
        assert tally.failed == [], tally.failed
        assert tally.statuses[500] == 0, tally.statuses
        # Every chain the clients completed opened exactly one case, and no case was opened twice.
        assert len(tally.admitted) == CHAINS
        assert sorted(opened_ids) == sorted(tally.admitted)
        assert max(opened_ids.values()) == 1
        # Every opened case reached legal exactly once: none lost, none applied twice.
        lost = set(opened_ids) - set(registered)
        assert lost == set(), f"{len(lost)} of {len(opened_ids)} cases never reached legal"
        assert max(registered.values()) == 1 and max(procedures.values()) == 1
        assert set(procedures) == set(opened_ids)
        assert inbox[0]["n"] == inbox[0]["d"]
        reached = tally.dropped > 0 or tally.statuses[503] > 0
        assert reached, f"the kill of intake reached no request in flight: {len(tally.admitted)} {tally.statuses}"
    finally:
        legal.stop()
        intake.stop()
        for service in ("intake", "legal"):
            await drop_database(pg_server_url, f"{prefix}{service}")
