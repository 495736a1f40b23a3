"""The Idempotency-Key contract (tests/support/idempotency_contract.py) on one command of every service, against
the real PostgreSQL and broker; and the header documented on every command route of every service."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from harbour.clock import ManualClock
from harbour.db import create_pool, migrate
from harbour.idempotency import COMMAND_METHODS, HEADER
from harbour.service import create_app
from schemas.intake import Centre
from services.housing.app import DEFINITION as HOUSING
from services.intake.api.models import ReferralStatusView
from services.intake.app import DEFINITION as INTAKE
from services.legal.app import DEFINITION as LEGAL
from services.signals.app import DEFINITION as SIGNALS_SERVICE
from services.signals.commands import TipIn
from services.signals.commands import submit as submit_tip
from services.signals.privacy import LIMIT
from services.statistics.app import DEFINITION as STATISTICS
from services.tracks.app import DEFINITION as TRACKS
from tests.support.harness import RunningService, fast_settings, running_service
from tests.support.housing_env import open_case as open_housing_case
from tests.support.housing_env import register_shelter
from tests.support.idempotency_contract import Command, IdempotencyContract
from tests.support.intake_flow import PAG_ASA, PAYOKE, POLICE, SIGNALS, IntakeClient, clock
from tests.support.legal_harness import LegalStage, shared_legal_stage  # noqa: F401  (a module fixture)
from tests.support.tracks_env import TracksEnv, tracks_env
from tests.support.upstream import Upstream, upstream

pytestmark = pytest.mark.integration


async def _count(service: RunningService, sql: str, *args: object) -> int:
    async with service.runtime.pool.acquire() as conn:
        return int(await conn.fetchval(sql, *args))


# --- intake: the centre screens a referral ---------------------------------------------------------------------


@pytest.fixture(scope="module")
async def intake(pg_server_url: str, broker) -> AsyncIterator[IntakeClient]:
    async with running_service(INTAKE, pg_server_url=pg_server_url, bootstrap=broker.bootstrap, clock=clock(),
                               background=False) as service:  # fmt: skip
        yield IntakeClient(service)


class TestIntakeScreening(IdempotencyContract):
    orgs = (PAYOKE, PAG_ASA)

    @pytest.fixture(autouse=True)
    def _bind(self, intake: IntakeClient) -> None:
        self.intake = intake

    def client(self) -> httpx.AsyncClient:
        return self.intake.client

    async def prepare(self, org: str) -> Command:
        referral = await self.intake.refer(target_centre=org)
        return Command("POST", f"/referrals/{referral['referral_id']}/screening", {},
                       self.intake.centre(org), f"referral-{referral['referral_id']}",
                       other_body={"added_signal_ids": SIGNALS[:1]}, status=200)  # fmt: skip

    async def effects(self, command: Command) -> int:
        return await _count(self.intake.service, "SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = "
                            "'ReferralScreened'", command.target)  # fmt: skip


class TestIntakeSubmission(IdempotencyContract):
    """The submission too (its fingerprint is intake's own, without the person's values)."""

    orgs = (POLICE, "police-zone-antwerp")

    @pytest.fixture(autouse=True)
    def _bind(self, intake: IntakeClient) -> None:
        self.intake = intake

    def client(self) -> httpx.AsyncClient:
        return self.intake.client

    async def prepare(self, org: str) -> Command:
        # Each submission carries a file number of its own: ``effects`` counts the referrals made with it.
        number = f"AN.12.L1.{uuid.uuid4().int % 10**6:06d}/26"
        return Command("POST", "/referrals", self.intake.referral_body(referrer_file_number=number),
                       self.intake.auth(org, "officer"), number,
                       other_body=self.intake.referral_body(referrer_file_number=number,
                                                            region="wallonia"))  # fmt: skip

    async def effects(self, command: Command) -> int:
        return await _count(self.intake.service, "SELECT count(*) FROM referral_status WHERE referrer_file_number = $1",
                            command.target)  # fmt: skip


# --- legal: the centre records a statement -------------------------------------------------------------------


class TestLegalStatement(IdempotencyContract):
    orgs = (PAYOKE, PAG_ASA)

    @pytest.fixture(autouse=True)
    def _bind(self, legal_stage_for_session: LegalStage) -> None:
        self.stage = legal_stage_for_session

    def client(self) -> httpx.AsyncClient:
        return self.stage.svc.client

    async def prepare(self, org: str) -> Command:
        case_id = await self.stage.open_case(centre=Centre(org))
        body = {"kind": "complaint", "unit": "police-zone-antwerp", "report_number": "AN.55.L1.012345/2026"}
        return Command("POST", f"/cases/{case_id}/proceedings/statements", body,
                       self.stage.as_(org, "caseworker"), case_id,
                       other_body={**body, "report_number": "AN.55.L1.099999/2026"})  # fmt: skip

    async def effects(self, command: Command) -> int:
        return await _count(self.stage.svc, "SELECT count(*) FROM events WHERE case_id = $1 AND event_type = "
                            "'StatementMade'", command.target)  # fmt: skip


# --- tracks: the centre records a session (the server names it: only the key tells a retry apart) ------------


@pytest.fixture(scope="module")
async def tracks(pg_server_url: str, broker) -> AsyncIterator[TracksEnv]:
    async with tracks_env(pg_server_url, broker.bootstrap, kafka=False) as env:
        yield env


class TestTracksSession(IdempotencyContract):
    orgs = (PAYOKE, PAG_ASA)

    @pytest.fixture(autouse=True)
    def _bind(self, tracks: TracksEnv) -> None:
        self.env = tracks

    def client(self) -> httpx.AsyncClient:
        return self.env.svc.client

    async def prepare(self, org: str) -> Command:
        case_id, _ = await self.env.open_case(centre=Centre(org))
        body = {"held_on": self.env.today.isoformat(), "area": "housing", "kind": "conversation",
                "duration_minutes": 45, "attended": True, "notes": "talked about the flat"}  # fmt: skip
        return Command("POST", f"/tracks/{case_id}/sessions", body, self.env.auth(org), f"track-{case_id}",
                       other_body={**body, "duration_minutes": 50})  # fmt: skip

    async def effects(self, command: Command) -> int:
        return await _count(self.env.svc, "SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = "
                            "'SessionRecorded'", command.target)  # fmt: skip


# --- housing: the centre asks for a bed -------------------------------------------------------------------


@pytest.fixture(scope="module")
async def housing(pg_server_url: str, broker) -> AsyncIterator[tuple[RunningService, Upstream]]:
    if not broker.is_running:
        broker.start()
    at = ManualClock(datetime(2026, 1, 5, 20, 0, tzinfo=UTC))
    async with (
        running_service(HOUSING, pg_server_url=pg_server_url, bootstrap=broker.bootstrap, clock=at) as service,
        upstream("intake", pg_server_url=pg_server_url, bootstrap=broker.bootstrap) as intake,
    ):
        yield service, intake


SHELTERED: set[str] = set()


class TestHousingPlacementRequest(IdempotencyContract):
    orgs = (PAYOKE, PAG_ASA)

    @pytest.fixture(autouse=True)
    def _bind(self, housing: tuple[RunningService, Upstream]) -> None:
        self.service, self.intake = housing

    def client(self) -> httpx.AsyncClient:
        return self.service.client

    async def prepare(self, org: str) -> Command:
        if org not in SHELTERED:  # a centre without a bed refuses every request (422): give it a shelter
            await register_shelter(self.service, org, {f"b{i}": [] for i in range(20)})
            SHELTERED.add(org)
        case_id, _ = await open_housing_case(self.service, self.intake, org)
        return Command("POST", f"/housing/cases/{case_id}/placement-requests", {"urgency": "urgent"},
                       self.service.token(org, "caseworker"), case_id,
                       other_body={"urgency": "planned"})  # fmt: skip

    async def effects(self, command: Command) -> int:
        return await _count(self.service, "SELECT count(*) FROM events WHERE event_type = 'PlacementRequested' AND "
                            "payload->>'case_id' = $1", command.target)  # fmt: skip


# --- signals: the public sends an anonymous tip ------------------------------------------------------------------


@pytest.fixture(scope="module")
async def signals(pg_server_url: str, broker) -> AsyncIterator[RunningService]:
    async with running_service(SIGNALS_SERVICE, pg_server_url=pg_server_url, bootstrap=broker.bootstrap,
                               background=False) as service:  # fmt: skip
        yield service


class TestSignalsTip(IdempotencyContract):
    """The tip as JSON (what tip.js sends with the form's one-time key). The public has no organisation: every
    anonymous key is in one namespace (``services.signals.commands.PUBLIC_ORG``), so the two-organisation test
    below says what holds instead."""

    orgs = ("public", "public")

    @pytest.fixture(autouse=True)
    def _bind(self, signals: RunningService) -> None:
        self.signals = signals
        LIMIT.reset()  # the contract sends more tips than one tipster's share

    def client(self) -> httpx.AsyncClient:
        return self.signals.client

    async def prepare(self, org: str) -> Command:
        place = f"Gemeente-{uuid.uuid4().hex[:12]}"  # ``effects`` counts the tips naming it
        body = {"description": "seen at the car wash", "postcode": "2000", "municipality": place}
        return Command("POST", "/tips", body, {}, place, other_body={**body, "postcode": "9000"})

    async def effects(self, command: Command) -> int:
        return await _count(self.signals, "SELECT count(*) FROM events WHERE event_type = 'TipSubmitted' AND "
                            "payload->>'municipality' = $1", command.target)  # fmt: skip

    async def test_the_same_key_from_two_organisations_never_collides(self):
        # Two tipsters meet only by choosing the same random key: the second, with another tip, is refused (422
        # naming the header) and is never given the first one's answer; the first tip stays recorded once.
        key = uuid.uuid4().hex
        mine, theirs = await self.prepare("public"), await self.prepare("public")
        first, second = await self._send(mine, key), await self._send(theirs, key)
        assert first.status_code == 201 and second.status_code == 422 and second.json()["field"] == HEADER
        assert await self.effects(mine) == 1 and await self.effects(theirs) == 0


class TestSignalsTipErasure(IdempotencyContract):
    """A centre's manager erasing a tip routed to it (a tip seen in Antwerp is Payoke's, one in Brussels PAG-ASA's)."""

    orgs = (PAYOKE, PAG_ASA)
    POSTCODES = {PAYOKE: "2000", PAG_ASA: "1000"}

    @pytest.fixture(autouse=True)
    def _bind(self, signals: RunningService) -> None:
        self.signals = signals

    def client(self) -> httpx.AsyncClient:
        return self.signals.client

    async def prepare(self, org: str) -> Command:
        tip_id = uuid.uuid4().hex
        told = TipIn(description="seen at the car wash", postcode=self.POSTCODES[org])
        assert (await submit_tip(self.signals.runtime, told, tip_id)).status_code < 300
        return Command("POST", f"/tips/{tip_id}/erasure", {"reason": "unfounded"},
                       self.signals.token(org, "manager"), f"tip-{tip_id}", other_body={"reason": "tipster-request"},
                       status=200)  # fmt: skip

    async def effects(self, command: Command) -> int:
        return await _count(self.signals, "SELECT count(*) FROM events WHERE event_type = 'TipErased' AND "
                            "stream_id = $1", command.target)  # fmt: skip


# --- every command route of every service documents the header ------------------------------------------------


@pytest.mark.parametrize("definition", [INTAKE, LEGAL, TRACKS, HOUSING, SIGNALS_SERVICE], ids=lambda d: d.name)
def test_every_command_route_documents_the_idempotency_key_header(definition) -> None:
    spec = create_app(definition, background=False).openapi()
    commands = [(method, path, op) for path, ops in spec["paths"].items() for method, op in ops.items()
                if method.upper() in COMMAND_METHODS]  # fmt: skip
    assert commands
    missing = [f"{m} {p}" for m, p, op in commands
               if not any(x["in"] == "header" and x["name"] == HEADER for x in op.get("parameters", []))]  # fmt: skip
    assert missing == []


# --- intake's referral keys recorded before every command took one -------------------------------------------


async def test_referral_keys_recorded_before_move_with_an_answer_that_reads_as_the_referrers_view(
    fresh_db: str, tmp_path
) -> None:
    migrations = Path(INTAKE.migrations)
    first = tmp_path / "intake"
    first.mkdir()
    (first / "0001_read_models.sql").write_text((migrations / "0001_read_models.sql").read_text())
    pool = await create_pool(fresh_db, min_size=1, max_size=1)
    try:
        await migrate(pool, {"intake": first})
        async with pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO referral_status (referral_id, version, referring_org, referrer_file_number,
                       target_centre, region, status, submitted_on, referrer_screening, screening, signal_ids,
                       exploitation_types, urgency, decided_on)
                   VALUES ('r-1', 2, 'police-federal', 'AN.12.L1.004567/26', 'centre-payoke', 'flanders',
                           'accepted', '2026-01-05', $1, $1, '{}', '{}', '{}', '2026-01-06')""",
                '{"catalogue_version": "2026.1", "counts": {"recruitment": 2}, "signal_count": 2,'
                ' "recommendation": "take-in"}',
            )
            await conn.execute("INSERT INTO idempotency_keys (org, key, fingerprint, referral_id) VALUES "
                               "('police-federal', 'pv-1', 'f1', 'r-1')")  # fmt: skip
        await migrate(pool, {"intake": migrations})
        async with pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM idempotent_commands WHERE org = 'police-federal' AND key = 'pv-1'")
            old = await conn.fetchval("SELECT to_regclass('idempotency_keys')")
    finally:
        await pool.close()
    assert old is None
    assert (row["method"], row["path"], row["fingerprint"], row["status"]) == ("POST", "/referrals", "f1", 201)
    assert row["location"] == "/referrals/r-1"
    view = ReferralStatusView.model_validate_json(row["body"])
    assert view.referral_id == "r-1" and view.decision is not None and view.decision.decision == "accepted"


# --- statistics: Myria releases a period's figures -------------------------------------------------------------


@pytest.fixture(scope="module")
async def statistics(pg_server_url: str) -> AsyncIterator[RunningService]:
    settings = fast_settings(statistics_fact_key="c3RhdGlzdGljcy1mYWN0LWtleS0zMi1ieXRlcy0xMjM=")
    async with running_service(STATISTICS, pg_server_url=pg_server_url, bootstrap="127.0.0.1:9", background=False,
                               settings=settings, clock=clock()) as service:  # fmt: skip
        yield service


class TestStatisticsRelease(IdempotencyContract):
    orgs = ("myria", "centre-payoke")
    periods = iter(range(2000, 2026))  # a period of its own per command: its releases are what is counted

    @pytest.fixture(autouse=True)
    def _bind(self, statistics: RunningService) -> None:
        self.svc = statistics

    def client(self) -> httpx.AsyncClient:
        return self.svc.client

    async def prepare(self, org: str) -> Command:
        period = next(self.periods)
        before = await self._releases(period)
        return Command("POST", "/releases", {"period": period}, self.svc.token(org, "analyst"), str(period),
                       other_body={"period": period, "public": True}, extra={"before": before})  # fmt: skip

    async def _releases(self, period: int) -> int:
        return await _count(self.svc, "SELECT count(*) FROM events WHERE stream_id = $1", f"releases-{period}")

    async def effects(self, command: Command) -> int:
        return await self._releases(int(command.target)) - command.extra["before"]

    async def test_the_same_key_from_two_organisations_never_collides(self):
        # Only Myria may release: the other organisation is refused (403) with the same key, and its refusal
        # neither takes nor replays Myria's answer.
        key = uuid.uuid4().hex
        mine, theirs = await self.prepare(self.orgs[0]), await self.prepare(self.orgs[1])
        first, second = await self._send(mine, key), await self._send(theirs, key)
        assert (first.status_code, second.status_code) == (201, 403), (first.text, second.text)
        assert "Idempotent-Replayed" not in second.headers
        assert await self.effects(mine) == 1 and await self.effects(theirs) == 0
