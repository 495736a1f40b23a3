"""Test fixtures: the real PostgreSQL and a real Kafka-protocol broker, never mocks.

A missing dependency fails the run; it does not skip.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from harbour.db import HARBOUR_MIGRATIONS, create_pool, database_url, drop_database, ensure_database, migrate
from harbour.settings import REPO_ROOT, HarbourSettings
from harbour_tools.infra import BrokerProcess, free_port, resolve_postgres


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
    process.stop()


@pytest.fixture
def running_broker(broker: BrokerProcess) -> BrokerProcess:
    """The module's broker, started again if an earlier test left it stopped."""
    if not broker.is_running:
        broker.start()
    return broker


@pytest.fixture
async def fresh_db(pg_server_url: str) -> AsyncIterator[str]:
    """A new, migrated database for one test, dropped afterwards. Yields its URL."""
    name = f"harbour_test_{uuid.uuid4().hex[:12]}"
    await ensure_database(pg_server_url, name)
    url = database_url(pg_server_url, name)
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        await migrate(pool, {"harbour": HARBOUR_MIGRATIONS})
    finally:
        await pool.close()
    yield url
    await drop_database(pg_server_url, name)


@pytest.fixture
async def db_pool(fresh_db: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(fresh_db, min_size=2, max_size=20)
    yield pool
    await pool.close()
