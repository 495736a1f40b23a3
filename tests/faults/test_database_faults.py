"""The database goes away under load: honest answers, nothing half-written, nothing applied twice.

Two real services run in process over the real PostgreSQL: intake (a referral taken from submission to
admission, six commands) and tracks (goals and sessions on open tracks). Concurrent clients send commands as
the platform asks them to: each with an ``Idempotency-Key``, sent again with the same key after a 503 or after
no answer. Meanwhile (a) every backend of both databases is terminated every one to two seconds for ten
seconds, and (b) both databases refuse every connection for fifteen seconds.

Counted, never timed: no 500 (in process, an exception out of the app counts as one), every 503 a problem
document with ``Retry-After``, every command applied exactly once (events per stream, one stream per
submission, one row per key), every answer matching the events it reports, and the same running services
serving new commands at the first try afterwards.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from services.intake.app import DEFINITION as INTAKE
from tests.support.db_faults import Tally, backends_terminated, connections_refused, database_of, dependency_log, send
from tests.support.harness import RunningService, running_service
from tests.support.intake_flow import PAYOKE, POLICE, SIGNALS, clock
from tests.support.tracks_env import TracksEnv, tracks_env

pytestmark = pytest.mark.integration

WORKERS = 6
TRACKS = 8
TERMINATE_FOR = 10.0
REFUSE_FOR = 15.0

REFERRAL = {"target_centre": PAYOKE, "region": "flanders", "exploitation_types": ["labour-exploitation"],
            "signal_ids": SIGNALS, "urgency": []}  # fmt: skip
STEPS = (
    ("/referrals/{rid}/screening", {}, 200, "ReferralScreened"),
    ("/referrals/{rid}/decision", {"decision": "accept"}, 200, "ReferralAccepted"),
    ("/referrals/{rid}/interviews", {}, 200, "IntakeInterviewHeld"),
    ("/referrals/{rid}/consents", {"scope": "guidance"}, 200, "ConsentGiven"),
    ("/referrals/{rid}/admission", {"eu_citizen": False}, 201, "CaseOpened"),
)


@dataclass
class Platform:
    intake: RunningService
    tracks: TracksEnv
    tracks_opened: list[str]
    police: dict[str, str] = field(default_factory=dict)
    centre: dict[str, str] = field(default_factory=dict)

    @property
    def databases(self) -> list[str]:
        return [database_of(self.intake.runtime), database_of(self.tracks.svc.runtime)]


@dataclass
class Load:
    """What the clients asked for and were told, to be compared with what the stores hold."""

    tally: Tally = field(default_factory=Tally)
    referrals: list[str] = field(default_factory=list)  # one per submission answered 201
    admitted: list[str] = field(default_factory=list)
    goals: Counter[str] = field(default_factory=Counter)  # case -> goals answered 201
    sessions: Counter[str] = field(default_factory=Counter)
    session_ids: list[str] = field(default_factory=list)
    commands: int = 0  # commands answered as intended (each with a key of its own)


@pytest.fixture(scope="module")
async def platform(pg_server_url: str, broker) -> AsyncIterator[Platform]:
    async with (
        running_service(INTAKE, pg_server_url=pg_server_url, bootstrap=broker.bootstrap, clock=clock(),
                        background=False) as intake,
        tracks_env(pg_server_url, broker.bootstrap, kafka=False) as tracks,
    ):  # fmt: skip
        opened = [(await tracks.open_case())[0] for _ in range(TRACKS)]
        yield Platform(intake, tracks, opened, intake.token(POLICE, "officer"), intake.token(PAYOKE, "caseworker"))


async def _chain(platform: Platform, load: Load) -> None:
    client = platform.intake.client
    response = await send(client, "POST", "/referrals", REFERRAL, platform.police, load.tally)
    if response is None or response.status_code != 201:
        load.tally.failed.append(f"refer: {response and response.status_code} {response and response.text[:200]}")
        return
    load.commands += 1
    rid = response.json()["referral_id"]
    load.referrals.append(rid)
    for version, (path, body, status, _) in enumerate(STEPS, start=2):
        response = await send(client, "POST", path.format(rid=rid), body, platform.centre, load.tally)
        if response is None or response.status_code != status:
            load.tally.failed.append(f"{path}: {response and response.status_code} {response and response.text[:200]}")
            return
        load.commands += 1
        answer = response.json()
        # The answer reports what its own transaction committed: the referral at the version this step made.
        if "version" in answer and answer["version"] != version:
            load.tally.failed.append(f"{path}: answered version {answer['version']}, expected {version}")
    load.admitted.append(answer["case_id"])


async def _track_work(platform: Platform, load: Load, case_id: str) -> None:
    env = platform.tracks
    caseworker = env.auth(PAYOKE)
    goal_id = f"goal-{uuid.uuid4().hex[:10]}"  # the client names the goal: a retry must not be a 422 "exists"
    goal = {"goal_id": goal_id, "area": "housing", "target_date": (env.today + timedelta(days=30)).isoformat(),
            "own_words": "a room of my own"}  # fmt: skip
    response = await send(env.svc.client, "POST", f"/tracks/{case_id}/goals", goal, caseworker, load.tally)
    if response is None or response.status_code != 201 or response.json()["id"] != goal_id:
        load.tally.failed.append(f"goal: {response and response.status_code} {response and response.text[:200]}")
        return
    load.commands += 1
    load.goals[case_id] += 1
    # No session id: the server chooses one, so only the key can tell a retry from a second session.
    session = {"held_on": env.today.isoformat(), "area": "housing", "kind": "conversation", "duration_minutes": 45,
               "attended": True}  # fmt: skip
    response = await send(env.svc.client, "POST", f"/tracks/{case_id}/sessions", session, caseworker, load.tally)
    if response is None or response.status_code != 201:
        load.tally.failed.append(f"session: {response and response.status_code} {response and response.text[:200]}")
        return
    load.commands += 1
    load.sessions[case_id] += 1
    load.session_ids.append(response.json()["id"])


async def _run_load(platform: Platform, fault: Callable[[], AbstractAsyncContextManager[Any]], duration: float,
                    load: Load) -> None:  # fmt: skip
    """Workers keep sending while the fault lasts, then finish what they started."""
    stop = asyncio.Event()
    cases = itertools.cycle(platform.tracks_opened)

    async def worker(n: int) -> None:
        while not stop.is_set():
            await (_chain(platform, load) if n % 2 == 0 else _track_work(platform, load, next(cases)))

    workers = [asyncio.create_task(worker(n)) for n in range(WORKERS)]
    async with fault():
        await asyncio.sleep(duration)
    stop.set()
    await asyncio.gather(*workers)


async def _stored(platform: Platform) -> dict[str, Any]:
    async with platform.intake.runtime.pool.acquire() as conn:
        referral_streams = await conn.fetch(
            """SELECT stream_id, array_agg(event_type ORDER BY stream_version) AS types, count(*) AS n,
                      max(stream_version) AS version
                 FROM events WHERE stream_type = 'referral' GROUP BY stream_id"""
        )
        intake_keys = await conn.fetchval("SELECT count(*) FROM idempotent_commands")
    async with platform.tracks.svc.runtime.pool.acquire() as conn:
        goals = await conn.fetch("SELECT stream_id, payload->>'goal_id' AS id FROM events WHERE event_type = 'GoalSet'")
        sessions = await conn.fetch(
            "SELECT stream_id, payload->>'session_id' AS id FROM events WHERE event_type = 'SessionRecorded'"
        )
        tracks_keys = await conn.fetchval("SELECT count(*) FROM idempotent_commands")
    return {"referrals": referral_streams, "intake_keys": intake_keys, "goals": goals, "sessions": sessions,
            "tracks_keys": tracks_keys}  # fmt: skip


async def _assert_exactly_once(platform: Platform, load: Load, before: dict[str, Any]) -> None:
    after = await _stored(platform)
    new_referrals = {r["stream_id"]: r for r in after["referrals"]}
    for r in before["referrals"]:
        new_referrals.pop(r["stream_id"], None)
    # One referral per submission the clients were answered for: a retried submission made none of its own.
    assert sorted(new_referrals) == sorted(f"referral-{rid}" for rid in load.referrals)
    chains_done = set(load.admitted)
    expected_types = ["ReferralSubmitted", *(step[3] for step in STEPS)]
    for stream_id, row in new_referrals.items():
        types = list(row["types"])
        # Each command once, in order; a chain cut short (never, asserted below) would be a prefix.
        assert types == expected_types[: len(types)], (stream_id, types)
        assert len(set(types)) == len(types), (stream_id, types)
    assert sum(1 for r in new_referrals.values() if r["n"] == len(expected_types)) == len(chains_done)
    goal_ids = Counter(r["id"] for r in after["goals"]) - Counter(r["id"] for r in before["goals"])
    session_ids = Counter(r["id"] for r in after["sessions"]) - Counter(r["id"] for r in before["sessions"])
    assert sum(goal_ids.values()) == sum(load.goals.values()) and set(goal_ids.values()) <= {1}
    assert sorted(session_ids.elements()) == sorted(load.session_ids)
    # One key row per command answered, each with its events (and no events without one: all commands had keys).
    assert (after["intake_keys"] - before["intake_keys"]) == sum(r["n"] for r in new_referrals.values())
    assert (after["tracks_keys"] - before["tracks_keys"]) == sum(goal_ids.values()) + sum(session_ids.values())


async def _assert_recovered(platform: Platform) -> None:
    """The same running services take new commands at the first try: no restart, no stale pool."""
    load = Load()
    for _ in range(2):
        await _chain(platform, load)
        await _track_work(platform, load, platform.tracks_opened[0])
    assert load.tally.failed == [] and set(load.tally.statuses) <= {200, 201}, load.tally
    assert load.tally.server_errors == 0


async def _fault_test(platform: Platform, fault: Callable[[], AbstractAsyncContextManager[Any]],
                      duration: float) -> tuple[Load, Counter[str]]:  # fmt: skip
    before = await _stored(platform)
    load = Load()
    async with dependency_log() as seen:
        await _run_load(platform, fault, duration, load)
    print(f"statuses={dict(load.tally.statuses)} crashes={dict(load.tally.crashes)} commands={load.commands} "
          f"committed_behind_a_503={load.tally.committed_behind_a_503} "
          f"logged={dict(seen.types)} failed={load.tally.failed[:5]}")  # fmt: skip
    assert load.tally.server_errors == 0, (dict(load.tally.statuses), dict(load.tally.crashes), dict(seen.types))
    assert load.tally.bad_503 == 0
    assert load.tally.failed == []
    assert load.tally.statuses[503] > 0, "the fault did not reach the clients: the test proves nothing"
    await _assert_exactly_once(platform, load, before)
    await _assert_recovered(platform)
    return load, seen.types


async def test_backends_terminated_under_load_give_no_500_and_apply_every_retried_command_once(platform):
    def fault() -> AbstractAsyncContextManager[Any]:
        return backends_terminated(_server(platform), platform.databases)

    await _fault_test(platform, fault, TERMINATE_FOR)


async def test_a_database_refusing_connections_for_15_s_gives_503s_and_recovers_without_restart(platform):
    def fault() -> AbstractAsyncContextManager[Any]:
        return connections_refused(_server(platform), platform.databases)

    await _fault_test(platform, fault, REFUSE_FOR)


def _server(platform: Platform) -> str:
    return platform.intake.runtime.endpoints.database_url.rpartition("/")[0] + "/postgres"
