"""The whole platform in this process on one broker, a load of referral → admission chains through intake's
HTTP API, and the counts a fault test compares: what intake opened against what every other service did with
it, and what the stores imply for each audience against what the feeds stored.

Every wait is bounded; on timeout the caller gets the counts of the moment, never a hang.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from harbour.store import Position
from milestones import MilestoneRoute
from services import registry
from tests.support.harness import QUICK_GROUPS, RunningService, fast_settings, running_service, running_services
from tests.support.intake_flow import PAYOKE, POLICE, SIGNALS

# Short group timeouts: after the broker comes back, each consumer group re-forms within a second or two.
PLATFORM_SETTINGS = dict(QUICK_GROUPS)

CONSUMING = ("legal", "tracks", "housing", "feeds")  # every service that reads another's topics

STEPS = (
    ("/referrals/{rid}/screening", {}, 200),
    ("/referrals/{rid}/decision", {"decision": "accept"}, 200),
    ("/referrals/{rid}/interviews", {}, 200),
    ("/referrals/{rid}/consents", {"scope": "guidance"}, 200),
    ("/referrals/{rid}/admission", {"eu_citizen": False}, 201),
)


@dataclass
class Load:
    """What the callers saw: every status, the admitted case ids, the chains that broke off (and why)."""

    statuses: Counter[int] = field(default_factory=Counter)
    admitted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@asynccontextmanager
async def platform(pg_server_url: str, bootstrap: str, **overrides: Any) -> AsyncIterator[dict[str, RunningService]]:
    """Every service of the registry, each with its own fresh database, on ``bootstrap``: name -> service."""
    settings = fast_settings(**{**PLATFORM_SETTINGS, **overrides})
    starts = {name: running_service(registry.definition(name), pg_server_url=pg_server_url, bootstrap=bootstrap,
                                    settings=settings) for name in registry.available()}  # fmt: skip
    async with running_services(starts) as services:
        yield services


async def _post(intake: RunningService, path: str, body: dict[str, Any], headers: dict[str, str], load: Load):
    """POST, again after a 429 or 503 (load shed before any work: the platform asks callers to retry those)."""
    for _ in range(100):
        response = await intake.client.post(path, json=body, headers=headers)
        load.statuses[response.status_code] += 1
        if response.status_code not in (429, 503):
            break
        await asyncio.sleep(0.1)
    return response


async def chain(intake: RunningService, load: Load) -> None:
    """One referral from the federal police to Payoke, taken through to admission (a case is opened)."""
    police, centre = intake.token(POLICE, "officer", "agent-7"), intake.token(PAYOKE, "caseworker", "cw-1")
    referral = {"target_centre": PAYOKE, "region": "flanders", "referrer_file_number": "AN.12.L1.004567/26",
                "exploitation_types": ["labour-exploitation"], "signal_ids": SIGNALS, "urgency": []}  # fmt: skip
    response = await _post(intake, "/referrals", referral, police, load)
    if response.status_code != 201:
        load.failed.append(f"refer: {response.status_code}")
        return
    rid = response.json()["referral_id"]
    for path, body, status in STEPS:
        response = await _post(intake, path.format(rid=rid), body, centre, load)
        if response.status_code != status:
            load.failed.append(f"{path}: {response.status_code}")
            return
    load.admitted.append(response.json()["case_id"])


async def run_chains(intake: RunningService, load: Load, count: int, *, workers: int = 4) -> None:
    queue = list(range(count))

    async def worker() -> None:
        while queue:
            queue.pop()
            await chain(intake, load)

    await asyncio.gather(*(worker() for _ in range(workers)))


async def fetch(service: RunningService, sql: str, *args: Any) -> list[asyncpg.Record]:
    async with service.runtime.pool.acquire() as conn:
        return await conn.fetch(sql, *args)


@asynccontextmanager
async def consumers_stalled(services: dict[str, RunningService], names: tuple[str, ...] = CONSUMING
                            ) -> AsyncIterator[None]:  # fmt: skip
    """Every consumer of ``names`` (default: the whole platform's) stalls (lags) while this is held: each service's
    inbox is locked against writes, so a handler does its work and then waits to record the message, uncommitted,
    and the messages behind it stay unread. Reads of the inbox still pass (SHARE mode), so nothing else waits."""
    conns: list[asyncpg.Connection] = []
    try:
        for name in names:
            if name in services:
                conn = await asyncpg.connect(services[name].runtime.endpoints.database_url)
                conns.append(conn)
                await conn.execute("BEGIN; LOCK TABLE inbox IN SHARE MODE")
        yield
    finally:
        for conn in conns:
            await conn.execute("ROLLBACK")
            await conn.close()


async def relays_caught_up(service: RunningService) -> bool:
    """Whether both relays of ``service`` have the broker's acknowledgement of every event stored so far."""
    runtime = service.runtime
    head = await runtime.store.head()
    relays = [r for r in (runtime.relay, runtime.milestone_relay) if r is not None]
    checkpoints = [await relay.checkpoint() for relay in relays]
    return head > Position() and all(done >= head for done in checkpoints)


async def expected_milestones(service: RunningService) -> set[tuple[str, str]] | None:
    """(audience, milestone id) of every milestone the store of ``service`` implies, addressed by the facts it
    holds now; None while the facts of some case have not arrived (its milestones cannot be told yet)."""
    relay = service.runtime.milestone_relay
    if relay is None:
        return set()
    route = MilestoneRoute(service.runtime.name, service.settings)
    route.wait_seconds = 3600.0  # a case whose facts are missing makes this answer None, never "nobody"
    found: set[tuple[str, str]] = set()
    position = Position()
    async with service.runtime.pool.acquire() as conn:
        while batch := await service.runtime.store.read_all(position, limit=2000, conn=conn):
            for event in batch:
                try:
                    messages = await route(conn, event)
                except Exception:  # FactsPending: not yet known
                    return None
                for message in messages:
                    headers = dict(message.headers)
                    found.add((headers["audience"].decode(), headers["milestone_id"].decode()))
            position = Position(batch[-1].tx_id, batch[-1].global_position)
    return found


@dataclass
class Tally:
    """Per service: cases intake opened that it never followed (lost), and cases it followed twice."""

    opened: int = 0
    lost: dict[str, int] = field(default_factory=dict)
    duplicated: dict[str, int] = field(default_factory=dict)
    milestones_expected: int = 0
    milestones_lost: int = 0
    milestones_unexpected: int = 0
    milestones_duplicated: int = 0

    @property
    def clean(self) -> bool:
        return (not any(self.lost.values()) and not any(self.duplicated.values()) and not self.milestones_lost
                and not self.milestones_unexpected and not self.milestones_duplicated)  # fmt: skip


# Each consuming service's one effect of a CaseOpened, per case: a row it can only have once per case.
EFFECTS: dict[str, str] = {
    "legal": "SELECT case_id FROM events WHERE event_type = 'LegalCaseRegistered'",
    "tracks": "SELECT case_id FROM events WHERE event_type = 'TrackOpened'",
    "housing": "SELECT case_id FROM case_registry",
}


async def tally(services: dict[str, RunningService]) -> Tally:
    result = Tally()
    opened = Counter(r["case_id"] for r in await fetch(
        services["intake"], "SELECT case_id FROM events WHERE event_type = 'CaseOpened'"))  # fmt: skip
    result.opened = len(opened)
    for name, sql in EFFECTS.items():
        seen = Counter(r["case_id"] for r in await fetch(services[name], sql))
        result.lost[name] = len(set(opened) - set(seen))
        result.duplicated[name] = sum(n - 1 for n in seen.values() if n > 1)
    expected: set[tuple[str, str]] = set()
    for name in ("intake", "legal", "tracks", "housing"):
        implied = await expected_milestones(services[name])
        if implied is None:
            result.milestones_lost = -1  # not computable yet: some case's facts have not arrived
            return result
        expected |= implied
    stored = Counter((r["audience"], str(r["milestone_id"])) for r in await fetch(
        services["feeds"], "SELECT audience, milestone_id FROM feed_milestones"))  # fmt: skip
    inbox = await fetch(services["feeds"], "SELECT count(*) AS n FROM inbox WHERE consumer = 'feeds.milestones'")
    result.milestones_expected = len(expected)
    result.milestones_lost = len(expected - set(stored))
    result.milestones_unexpected = len(set(stored) - expected)
    result.milestones_duplicated = sum(n - 1 for n in stored.values() if n > 1) + abs(inbox[0]["n"] - len(stored))
    return result


async def settle(services: dict[str, RunningService], *, timeout: float) -> Tally:
    """Wait (bounded) until nothing is lost; returns the last tally either way, for the caller to assert on."""
    deadline = time.monotonic() + timeout
    while True:
        current = await tally(services)
        if current.clean or time.monotonic() >= deadline:
            return current
        await asyncio.sleep(0.5)


async def bounded(predicate: Callable[[], Awaitable[bool]], timeout: float, interval: float = 0.1) -> bool:
    """Poll until ``predicate`` holds or ``timeout`` passes; says which (the caller asserts with its counts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(interval)
    return await predicate()
