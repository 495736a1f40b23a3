"""Database faults for the fault tests, from a connection of their own, and clients that behave as Harbour asks.

The faults are the two an operator meets: backends terminated under load (a failover, an administrator's
``pg_terminate_backend``, a pooler restart) and a database that refuses every connection for a while (a
restore, a maintenance window). Clients send every command with an ``Idempotency-Key`` and send it again,
with the same key, when the answer is a 503 or no answer at all.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from harbour.db import database_url

# A retry is bounded in count, not in time: the longest fault (15 s of refused connections) fits well within.
MAX_TRIES = 400


def database_of(runtime: Any) -> str:
    """The database name of a running service (the harness gives each one a fresh database)."""
    return runtime.endpoints.database_url.rpartition("/")[2]


async def terminate_backends(conn: asyncpg.Connection, databases: Sequence[str]) -> int:
    """Terminate every backend of ``databases`` (not this connection's): what a failover does to a pool."""
    rows = await conn.fetch(
        """SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid()""",
        list(databases),
    )
    return len(rows)


@dataclass
class FaultLog:
    terminated: int = 0  # backends terminated
    rounds: int = 0


@asynccontextmanager
async def backends_terminated(pg_server_url: str, databases: Sequence[str], *, every: tuple[float, float] = (1.0, 2.0)
                              ) -> AsyncIterator[FaultLog]:  # fmt: skip
    """While the block runs, terminate the databases' backends every ``every`` seconds (jittered)."""
    log = FaultLog()
    admin = await asyncpg.connect(database_url(pg_server_url, "postgres"))

    async def kill() -> None:
        while True:
            await asyncio.sleep(random.uniform(*every))
            log.terminated += await terminate_backends(admin, databases)
            log.rounds += 1

    task = asyncio.create_task(kill())
    try:
        yield log
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await admin.close()


@asynccontextmanager
async def connections_refused(pg_server_url: str, databases: Sequence[str]) -> AsyncIterator[FaultLog]:
    """While the block runs, the databases accept no connection and hold none (restored afterwards)."""
    log = FaultLog()
    admin = await asyncpg.connect(database_url(pg_server_url, "postgres"))
    try:
        for name in databases:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        log.terminated += await terminate_backends(admin, databases)
        log.rounds += 1
        yield log
    finally:
        for name in databases:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()


@dataclass
class Tally:
    """What the clients saw. In process (httpx's ASGI transport) an exception out of the app is what a real
    server answers with a 500, so it is counted as one, by type."""

    statuses: Counter[int] = field(default_factory=Counter)
    crashes: Counter[str] = field(default_factory=Counter)
    bad_503: int = 0  # a 503 without Retry-After or not a problem document
    failed: list[str] = field(default_factory=list)  # a command whose final answer was not the expected one
    # Commands answered 503 (or not at all) that had in fact committed: their retry was answered from the key.
    committed_behind_a_503: int = 0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500 and status != 503) + sum(
            self.crashes.values()
        )


class DependencyLog(logging.Handler):
    """Collects the error types the problem handlers name ("dependency unavailable: AdminShutdownError")."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.types: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.args and isinstance(record.args, tuple):
            self.types[f"{record.levelname.lower()}:{record.args[0]}"] += 1


@asynccontextmanager
async def dependency_log() -> AsyncIterator[DependencyLog]:
    handler = DependencyLog()
    logger = logging.getLogger("harbour.http")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


async def send(client: httpx.AsyncClient, method: str, path: str, body: Any, headers: dict[str, str],
               tally: Tally) -> httpx.Response | None:  # fmt: skip
    """Send until the answer is not 'try again', with the same Idempotency-Key every time."""
    headers = {"Idempotency-Key": uuid.uuid4().hex, **headers}
    for attempt in range(MAX_TRIES):
        try:
            response = await client.request(method, path, json=body, headers=headers)
        except Exception as exc:  # any exception out of the app is a server error: counted
            tally.crashes[type(exc).__name__] += 1
            await asyncio.sleep(0.05)
            continue
        tally.statuses[response.status_code] += 1
        if response.status_code in (429, 503):  # shed, or the database away: both say when to come back
            if "Retry-After" not in response.headers or not response.headers.get("content-type", "").startswith(
                "application/problem+json"
            ):
                tally.bad_503 += 1
            await asyncio.sleep(random.uniform(0.05, 0.2))
            continue
        if attempt > 0 and response.headers.get("Idempotent-Replayed") == "true":
            tally.committed_behind_a_503 += 1
        return response
    return None
