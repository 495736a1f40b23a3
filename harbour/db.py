"""PostgreSQL access: one database per service, created when missing; plain versioned SQL migrations."""

from __future__ import annotations

import asyncio
import re
import time
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolAcquireContext, PoolConnectionProxy

from harbour.errors import DependencyUnavailable
from harbour.http.problems import DatabaseUnavailable

# A connection a function can be handed: one of its own (``asyncpg.connect``: the relay's, a listener's) or one
# lent by a pool (``pool.acquire()``). Both answer the same statements; asyncpg types them apart.
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy

HARBOUR_MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def database_url(server_url: str, database: str) -> str:
    """The URL of ``database`` on the server named by ``server_url`` (whose own path is ignored)."""
    base, _, _ = server_url.rstrip("/").rpartition("/")
    if "://" not in base:  # the URL had no database part at all
        base = server_url.rstrip("/")
    return f"{base}/{database}"


async def ensure_database(server_url: str, database: str) -> None:
    conn = await asyncpg.connect(database_url(server_url, "postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{database}"')
            except asyncpg.DuplicateDatabaseError:
                pass  # another service process created it between our check and our create
    finally:
        await conn.close()


async def drop_database(server_url: str, database: str) -> None:
    conn = await asyncpg.connect(database_url(server_url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()


async def _connect(*args: Any, **kwargs: Any) -> asyncpg.Connection:
    """asyncpg's connect, with any failure to connect told apart from a failing statement.

    On connecting, even an error that a query could raise for a bug ("database is not currently accepting
    connections" is ``ObjectNotInPrerequisiteStateError``) means the database is away: a 503, not a 500.
    """
    try:
        return await asyncpg.connect(*args, **kwargs)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
        raise DatabaseUnavailable(type(error).__name__) from error


@dataclass
class RequestDeadline:
    """When the HTTP request being served must be done (``time.monotonic()``); set by harbour.http.shedding."""

    at: float
    answered: bool = False  # the response has started (a stream): no deadline from then on
    expired: bool = False  # a connection was refused to this request because its time was up

    def remaining(self) -> float | None:
        return None if self.answered else self.at - time.monotonic()


# The deadline of the request this task serves, if any (relays, consumers and timers have none).
REQUEST_DEADLINE: ContextVar[RequestDeadline | None] = ContextVar("harbour_request_deadline", default=None)


class DeadlineExceeded(DependencyUnavailable):
    title = "The request ran out of time"
    type_slug = "deadline-exceeded"


async def _bound_by_request_deadline(conn: PoolConnectionProxy) -> None:
    """Pool ``setup`` (on every acquire): the statements of a request may take only the time it has left.

    PostgreSQL enforces it (``statement_timeout``; lock waits count): a statement still running when the time is
    up is cancelled and its transaction rolls back, so a deadline never leaves a command half-done, and a commit
    either happened (and is answered) or did not. The pool's reset on release (``RESET ALL``) clears it.
    """
    deadline = REQUEST_DEADLINE.get()
    remaining = deadline.remaining() if deadline is not None else None
    if deadline is None or remaining is None:
        return
    if remaining <= 0:
        deadline.expired = True
        raise DeadlineExceeded("the request's deadline passed before it was done; nothing was changed, retry later")
    await conn.execute(f"SET statement_timeout = {max(1, int(remaining * 1000))}")


# A statement that leaves state on the session, which must not reach the next task the pool lends the connection to:
# a SET or RESET that is not LOCAL, a cursor kept past its transaction (DECLARE), LISTEN, a set_config that is not
# local (its last argument is not a plain true), a session advisory lock. A statement begins the text or follows a
# semicolon; a comment line before it is skipped. Anything matched by mistake only costs the reset it would have had
# anyway; a statement missed would hand its state to the next borrower, so the patterns err on the wide side.
_SESSION_STATE = re.compile(
    r"(?:^|;)(?:\s|--[^\n]*\n)*(?:SET\s+(?!LOCAL\b)|RESET\b|DECLARE\b|LISTEN\b|UNLISTEN\b|DISCARD\b|LOAD\b)"
    r"|set_config\s*\((?![^()]*,\s*true\s*\))|advisory_(?:un)?lock",
    re.IGNORECASE,
)


@lru_cache(maxsize=4096)
def leaves_session_state(query: str) -> bool:
    """Whether ``query`` may leave state on the session (see ``_SESSION_STATE``); statement texts are few, so each
    is looked at once."""
    return _SESSION_STATE.search(query) is not None


class HarbourConnection(asyncpg.Connection):
    """A pooled connection that is reset on its way back to the pool only if something may have left state on it.

    asyncpg's pool resets every connection it takes back (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL``): a round trip of its own, and the statement the platform ran most (a relay's or a consumer's
    pass takes and returns a connection several times an event). Almost all of those uses only run statements
    in transactions that ended: nothing is left to clear. Each statement text is looked at once
    (:func:`leaves_session_state`); a connection that ran one that may leave state is reset as before. An open
    transaction is always rolled back, and listeners dropped (asyncpg's ``_reset``, which runs whatever the
    query).
    """

    __slots__ = ("_session_state",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Unknown until the first reset: a new connection carries only what the server's defaults say, but the
        # pool's ``setup`` or ``init`` may have run before any statement was looked at.
        self._session_state = True

    def _note(self, query: str) -> None:
        if not self._session_state and leaves_session_state(query):
            self._session_state = True

    async def reset(self, *, timeout: float | None = None) -> None:
        if self._session_state:
            await super().reset(timeout=timeout)
            self._session_state = False  # after the reset query, which names advisory locks itself
            return
        async with asyncio.timeout(timeout):
            await self._reset()  # rolls back a transaction left open, drops listeners

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        self._note(query)
        return await super().execute(query, *args, timeout=timeout)

    async def executemany(self, command: str, args: Any, *, timeout: float | None = None) -> None:
        self._note(command)
        return await super().executemany(command, args, timeout=timeout)

    async def fetch(self, query: str, *args: Any, **kwargs: Any) -> list[Any]:
        self._note(query)
        rows: list[Any] = await super().fetch(query, *args, **kwargs)
        return rows

    async def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._note(query)
        return await super().fetchval(query, *args, **kwargs)

    async def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._note(query)
        return await super().fetchrow(query, *args, **kwargs)

    async def fetchmany(self, query: str, args: Any, **kwargs: Any) -> list[Any]:
        self._note(query)
        rows: list[Any] = await super().fetchmany(query, args, **kwargs)
        return rows

    async def prepare(self, query: str, **kwargs: Any) -> Any:
        self._note(query)
        return await super().prepare(query, **kwargs)

    def cursor(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._note(query)
        return super().cursor(query, *args, **kwargs)

    async def copy_from_query(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self._note(query)
        return await super().copy_from_query(query, *args, **kwargs)


class _DeadlinePool(asyncpg.Pool):
    """asyncpg's pool (built as ``asyncpg.create_pool`` builds it), whose wait for a free connection counts
    against the request's deadline too: past it, a TimeoutError (a 503), and no connection was taken."""

    __slots__ = ()

    def acquire(self, *, timeout: float | None = None) -> PoolAcquireContext:
        deadline = REQUEST_DEADLINE.get()
        remaining = deadline.remaining() if deadline is not None else None
        if timeout is None and remaining is not None:
            timeout = max(0.001, remaining)
        return super().acquire(timeout=timeout)


async def create_pool(url: str, *, min_size: int = 2, max_size: int = 10, idle_seconds: float = 300.0) -> asyncpg.Pool:
    """A pool whose connections unused for ``idle_seconds`` are closed (0: never), down to ``min_size``; a
    connection taken while serving an HTTP request is bound by that request's deadline."""
    pool = await _DeadlinePool(
        url, min_size=min_size, max_size=max_size, max_inactive_connection_lifetime=idle_seconds, connect=_connect,
        setup=_bound_by_request_deadline, max_queries=50000, loop=None, connection_class=HarbourConnection,
        record_class=asyncpg.Record,
    )  # fmt: skip
    assert pool is not None
    return pool


def _migration_files(scope: str, directory: Path) -> list[tuple[str, Path]]:
    files = []
    for path in sorted(directory.glob("*.sql")):
        if not _MIGRATION_NAME.match(path.name):
            raise ValueError(f"migration {path} must be named NNNN_name.sql")
        files.append((f"{scope}/{path.stem}", path))
    return files


async def migrate(pool: asyncpg.Pool, directories: dict[str, Path]) -> list[str]:
    """Apply every migration not yet recorded, in order, each in its own transaction. Returns those applied.

    ``directories`` maps a scope ("harbour", "intake", ...) to a folder of ``NNNN_name.sql`` files.
    """
    applied: list[str] = []
    async with pool.acquire() as conn:
        # Two processes of one service may start together; the lock makes the second wait, then skip.
        await conn.execute("SELECT pg_advisory_lock(hashtext('harbour.migrations'))")
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {row["id"] for row in await conn.fetch("SELECT id FROM schema_migrations")}
            for scope, directory in directories.items():
                for migration_id, path in _migration_files(scope, directory):
                    if migration_id in done:
                        continue
                    async with conn.transaction():
                        await conn.execute(path.read_text())
                        await conn.execute("INSERT INTO schema_migrations (id) VALUES ($1)", migration_id)
                    applied.append(migration_id)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext('harbour.migrations'))")
    return applied
