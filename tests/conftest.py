"""Test fixtures: the real PostgreSQL and a real Kafka-protocol broker, never mocks.

A missing dependency fails the run; it does not skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from harbour.db import HARBOUR_MIGRATIONS, create_pool, database_url, drop_database, ensure_database, migrate


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    return os.environ.get("HARBOUR_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


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
