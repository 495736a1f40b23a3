"""Durable timers: deadlines stored in PostgreSQL that fire exactly once, survive restarts, one runner per service.

Scheduling happens in the caller's transaction (usually the one appending the event that starts a deadline),
so a timer exists exactly when the fact that made it exists. The :class:`TimerRunner` fires a due timer by
calling its kind's handler and marking it fired **in one transaction**: if the handler's effects commit, the
timer is fired; if the process dies mid-handler, neither happened and the timer fires on the next pass.

Time is the injected :class:`harbour.clock.Clock`: tests move a ``ManualClock`` forward and call
:meth:`TimerRunner.run_due_once` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict

from harbour.clock import Clock
from harbour.db import Connection
from harbour.store.eventstore import StreamOrderRetry

log = logging.getLogger(__name__)

_MAX_ERROR_LENGTH = 2000
_REORDER_RETRIES = 5  # per pass: new transactions for a handler whose stream moved on meanwhile


class Timer(BaseModel):
    """A timer as its handler sees it."""

    model_config = ConfigDict(frozen=True)

    key: str
    kind: str
    case_id: str
    due_at: datetime
    payload: dict[str, Any]
    scheduled_at: datetime
    attempts: int  # failed attempts before this one
    last_error: str | None = None
    fired_at: datetime | None = None
    cancelled_at: datetime | None = None


TimerHandler = Callable[[Connection, Timer], Awaitable[None]]


class UnknownTimerKind(LookupError):
    """No handler is registered for a timer's kind (recorded on the row; retried, as a deploy may add it)."""


_COLUMNS = (
    "key, kind, case_id, due_at, payload::text AS payload, scheduled_at, attempts, last_error, fired_at, cancelled_at"
)


def _timer(row: asyncpg.Record) -> Timer:
    # payload is read as text and parsed here, so this works whatever jsonb codec the pool may have set.
    return Timer(**{**dict(row), "payload": json.loads(row["payload"])})


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


async def schedule(
    conn: Connection,
    *,
    key: str,
    kind: str,
    due_at: datetime,
    case_id: str,
    payload: Mapping[str, Any] | None = None,
) -> bool:
    """Schedule (or re-schedule) the timer ``key``; False if that key has already fired (it never fires twice).

    Idempotent on ``key``: scheduling an unfired key again replaces its kind, due time, case and payload, and
    revives it if it was cancelled (the latest decision wins), with a clean attempt count.
    """
    # If the runner is firing this very timer, the upsert waits on its row lock; once the runner commits,
    # the WHERE below is re-checked against the fired row and nothing is changed.
    row = await conn.fetchrow(
        """INSERT INTO timers (key, kind, case_id, due_at, payload, next_attempt_at)
           VALUES ($1, $2, $3, $4, $5::text::jsonb, $4)
           ON CONFLICT (key) DO UPDATE SET
               kind = EXCLUDED.kind, case_id = EXCLUDED.case_id, due_at = EXCLUDED.due_at,
               payload = EXCLUDED.payload, next_attempt_at = EXCLUDED.due_at, scheduled_at = now(),
               attempts = 0, last_error = NULL, cancelled_at = NULL
           WHERE timers.fired_at IS NULL
           RETURNING key""",
        key,
        kind,
        case_id,
        _aware(due_at, "due_at"),
        json.dumps(dict(payload or {})),
    )
    return row is not None


async def cancel(conn: Connection, key: str) -> bool:
    """Cancel the pending timer ``key``; False if there is none (unknown, fired or already cancelled)."""
    row = await conn.fetchrow(
        """UPDATE timers SET cancelled_at = now()
           WHERE key = $1 AND fired_at IS NULL AND cancelled_at IS NULL RETURNING key""",
        key,
    )
    return row is not None


async def cancel_prefix(conn: Connection, prefix: str) -> int:
    """Cancel every pending timer whose key starts with ``prefix`` (e.g. all of one document); returns how many."""
    if not prefix:
        raise ValueError("an empty prefix would cancel every timer")
    result = await conn.execute(
        """UPDATE timers SET cancelled_at = now()
           WHERE key LIKE $1 ESCAPE '\\' AND fired_at IS NULL AND cancelled_at IS NULL""",
        _like_prefix(prefix),
    )
    return int(result.split()[-1])


async def get_timer(conn: Connection, key: str) -> Timer | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM timers WHERE key = $1", key)
    return None if row is None else _timer(row)


async def due_count(conn: Connection, now: datetime) -> int:
    """Pending timers whose due time has passed (the "due timers" metric; should hover near zero)."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM timers WHERE fired_at IS NULL AND cancelled_at IS NULL AND due_at <= $1",
        _aware(now, "now"),
    )
    return count


class TimerRunner:
    """Fires due timers, each exactly once, in one process per service.

    ``start()`` runs a background task that first becomes the service's timer leader (a PostgreSQL advisory
    lock held on a connection kept for that purpose; any other runner waits for it), then calls
    :meth:`run_due_once` every ``poll_seconds``. Exactly-once does not rest on the leader lock but on row
    locks and ``fired_at`` (see :meth:`run_due_once`), so it holds even in the moment two runners overlap
    (a leader whose connection silently died while a new one takes over).

    A failing handler, or a kind with no handler, does not block other timers: the error is recorded on the
    row (``attempts``, ``last_error``) and the timer is retried after a backoff doubling from ``retry_base``
    up to ``retry_max``. It is never given up: a legal deadline must not vanish; the metric shows it.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        handlers: Mapping[str, TimerHandler],
        poll_seconds: float = 1.0,
        *,
        lock_name: str = "harbour.timers",
        batch_size: int = 100,
        retry_base: timedelta = timedelta(seconds=30),
        retry_max: timedelta = timedelta(hours=1),
        stop_grace_seconds: float = 10.0,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._handlers = dict(handlers)
        self._poll_seconds = poll_seconds
        self._lock_name = lock_name
        self._batch_size = batch_size
        self._retry_base = retry_base
        self._retry_max = retry_max
        self._stop_grace_seconds = stop_grace_seconds
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._leader = False

    @property
    def is_leader(self) -> bool:
        """True while this runner holds the service's timer lock (its background task fires timers)."""
        return self._leader

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt."""
        factor: int = 2 ** max(0, min(attempts - 1, 30))
        return min(self._retry_base * factor, self._retry_max)

    async def due_count(self, conn: Connection) -> int:
        return await due_count(conn, self._clock.now())

    # --- firing ----------------------------------------------------------------------------------------

    async def run_due_once(self) -> int:
        """Fire every timer due by the clock's current time (at most ``batch_size``); returns how many fired.

        Each timer gets its own transaction: claim the row (``FOR UPDATE SKIP LOCKED``), run the handler in a
        savepoint, mark it fired, commit. So one timer's failure rolls back only its own handler's effects.
        """
        now = self._clock.now()
        fired = 0
        tried: list[str] = []  # timers already attempted in this pass: a failed one is not retried in it
        reordered = 0  # transactions started again because the stream moved on (StreamOrderRetry)
        while len(tried) < self._batch_size:
            async with self._pool.acquire() as conn, conn.transaction():
                # FOR UPDATE: the row stays locked until this transaction commits, so nobody else can fire,
                # cancel or re-schedule it meanwhile. SKIP LOCKED: a timer another runner is firing right now
                # is passed over instead of waited for; if that runner commits, the row is fired; if it dies,
                # its lock goes with its connection and the row is claimable again. Under READ COMMITTED a
                # row fired after our snapshot is re-checked against its committed version, so it is not
                # picked up a second time.
                row = await conn.fetchrow(
                    f"""SELECT {_COLUMNS} FROM timers
                        WHERE fired_at IS NULL AND cancelled_at IS NULL AND next_attempt_at <= $1
                          AND NOT (key = ANY($2::text[]))
                        ORDER BY next_attempt_at, key
                        LIMIT 1
                        FOR UPDATE SKIP LOCKED""",
                    now,
                    tried,
                )
                if row is None:
                    break
                timer = _timer(row)
                try:
                    outcome = await self._fire(conn, timer)
                except StreamOrderRetry:
                    # Another transaction appended to the handler's stream after this one took its id (the row
                    # lock gave it one): only a new transaction can append. Not the timer's failure, so no backoff
                    # (with a test's manual clock, or a 30 s backoff, a reminder would sit out a deadline);
                    # bounded, so two writers that keep crossing cannot spin here.
                    reordered += 1
                    if reordered <= _REORDER_RETRIES:
                        continue
                    outcome = await self._record_failure(conn, timer, StreamOrderRetry("the stream kept moving"))
                tried.append(timer.key)
                if outcome:
                    fired += 1
        return fired

    async def _fire(self, conn: Connection, timer: Timer) -> bool:
        handler = self._handlers.get(timer.kind)
        try:
            if handler is None:
                raise UnknownTimerKind(f"no handler for timer kind {timer.kind!r}")
            # A savepoint: if the handler fails, its writes are undone but our claim on the row is kept, so
            # the failure is recorded in the same transaction without anyone else grabbing the timer.
            async with conn.transaction():
                await handler(conn, timer)
        except StreamOrderRetry:
            raise
        except Exception as exc:
            return await self._record_failure(conn, timer, exc)
        await conn.execute("UPDATE timers SET fired_at = $2 WHERE key = $1", timer.key, self._clock.now())
        return True

    async def _record_failure(self, conn: Connection, timer: Timer, exc: Exception) -> bool:
        """Record a failed attempt on the row, in the claiming transaction, and when to try again."""
        attempts = timer.attempts + 1
        retry_at = self._clock.now() + self.backoff(attempts)
        await conn.execute(
            "UPDATE timers SET attempts = $2, last_error = $3, next_attempt_at = $4 WHERE key = $1",
            timer.key,
            attempts,
            f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_LENGTH],
            retry_at,
        )
        # The message stays on the row, not in the log: a handler's error might quote personal data.
        log.warning(
            "timer %s of kind %s failed (attempt %d, %s); retry at %s",
            timer.key,
            timer.kind,
            attempts,
            type(exc).__name__,
            retry_at.isoformat(),
        )
        return False

    # --- the background task ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"{self._lock_name} runner")

    async def stop(self) -> None:
        """Stop after the timer being fired (if any) is done; cancel it after ``stop_grace_seconds``."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self._stop_grace_seconds)
        except TimeoutError:
            task.cancel()  # the open transaction rolls back: that timer fires again later
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._lead()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # The database went away (restart, failover): drop leadership, wait, contend again.
                log.warning("timer runner lost the database (%s); retrying", type(exc).__name__)
                await self._pause(self._poll_seconds)

    async def _lead(self) -> None:
        # A connection of our own for the whole leadership: a session advisory lock belongs to the connection
        # that took it, so it must not go back to the pool (where another task could release it) while held.
        async with self._pool.acquire() as lock_conn:
            # Advisory lock = one timer runner per service database. Without it every replica would poll and
            # contend for rows; with it the others stand by and take over within a poll when the leader's
            # connection ends (stop, crash, network loss). Try-lock in a loop rather than a blocking
            # pg_advisory_lock so that stop() is honoured promptly while waiting.
            while not await lock_conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", self._lock_name):
                if self._stopping.is_set():
                    return
                await self._pause(self._poll_seconds)
            self._leader = True
            log.info("timer runner is the leader (%s)", self._lock_name)
            try:
                while not self._stopping.is_set():
                    # Still connected means still holding the lock; if this fails we stop firing at once.
                    await lock_conn.fetchval("SELECT 1")
                    try:
                        await self.run_due_once()
                    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                        raise
                    except Exception:
                        # A bug outside the handlers (which are caught per timer): keep the service's timers
                        # alive, log without timer contents.
                        log.exception("timer pass failed")
                    await self._pause(self._poll_seconds)
            finally:
                self._leader = False
                if not lock_conn.is_closed():
                    with contextlib.suppress(Exception):
                        await lock_conn.execute("SELECT pg_advisory_unlock(hashtext($1))", self._lock_name)
