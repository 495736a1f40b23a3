"""Test fixtures: the real PostgreSQL and a real Kafka-protocol broker, never mocks.

A missing dependency fails the run; it does not skip.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from harbour.db import create_pool, database_url, drop_database
from harbour.settings import REPO_ROOT, HarbourSettings
from harbour_tools.infra import BrokerProcess, free_port, resolve_postgres
from tests.support.templates import create_migrated, drop_templates, migrations_of

# Spans go to the in-memory exporters of the tests that read them (telemetry.EXTRA_SPAN_PROCESSORS), not to
# var/traces: writing every span of the suite as OTLP JSON cost about a tenth of its CPU. Set before any
# service (or a service process a test starts, which inherits it) makes its tracer provider;
# test_logs_trace_files turns them on for the files it checks.
os.environ.setdefault("HARBOUR_TRACE_FILES", "false")


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """The real PostgreSQL: configured, the machine's, or an embedded one (never a mock, never a skip)."""
    return resolve_postgres(HarbourSettings())


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerProcess]:
    """A private Tansu broker for each test module, on a free port, so tests may stop and restart it.

    Per module, not per session: a service started by a test reads its topics from the beginning, and events
    that other modules left on a shared broker (a CaseOpened asking for a bed tonight) would reach it too.
    """
    process = BrokerProcess(port=free_port(), log_dir=REPO_ROOT / "var" / "log", log_name="tansu-tests.log")
    process.start()
    yield process
    # Killed, not terminated: the broker keeps nothing on disk, and Tansu's graceful stop waits about 5 s for
    # every client still connected (a consumer a test left behind) before it exits.
    process.kill()


@pytest.fixture
def running_broker(broker: BrokerProcess) -> BrokerProcess:
    """The module's broker, started again if an earlier test left it stopped."""
    if not broker.is_running:
        broker.start()
    return broker


@pytest.fixture
def own_broker() -> Iterator[BrokerProcess]:
    """A broker for one test alone: for a test whose outcome the module's earlier traffic could change (a case
    that earlier tests left on intake's topic, read from the start, would take the one bed the test counts on)."""
    process = BrokerProcess(port=free_port(), log_dir=REPO_ROOT / "var" / "log", log_name="tansu-tests.log")
    process.start()
    yield process
    process.kill()  # as the module's broker: nothing to keep, no graceful wait


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Drop the migrated template databases this process built (tests.support.templates), if it built any."""
    asyncio.run(drop_templates())


@pytest.fixture
async def fresh_db(pg_server_url: str) -> AsyncIterator[str]:
    """A new, migrated database for one test (a copy of the migrated template), dropped afterwards. Its URL."""
    name = f"harbour_test_{uuid.uuid4().hex[:12]}"
    await create_migrated(pg_server_url, name, migrations_of())
    yield database_url(pg_server_url, name)
    await drop_database(pg_server_url, name)


@pytest.fixture
async def db_pool(fresh_db: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(fresh_db, min_size=2, max_size=20)
    yield pool
    await pool.close()
