"""Running a command's work in one transaction, queued behind the commands it contends with, again from a fresh
read when another writer won a race. The policy built on it is :mod:`harbour.commands`."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Collection
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

import asyncpg

from harbour import telemetry
from harbour.db import Connection
from harbour.errors import ConcurrencyError
from harbour.store.eventstore import StreamOrderRetry

T = TypeVar("T")
# Enough for a burst of commands on one stream even without a queue (``queue_on``): each round one of them wins.
MAX_ATTEMPTS = 10
# Another writer got there first: re-reading and deciding again resolves it.
RETRYABLE = (ConcurrencyError, StreamOrderRetry, asyncpg.SerializationError, asyncpg.DeadlockDetectedError)
# Advisory locks of one server share one 64-bit space; the second argument of hashtextextended keeps apart the
# stream append locks (seed 0, harbour_append and harbour.store.lock_stream), the command queues (seed 1) and
# the Idempotency-Keys (seed 2, harbour.idempotency).
QUEUE_SEED = 1

QueueOn = str | Collection[str] | None


class QueueReordered(Exception):
    """A command learned, while deciding, a queue key that sorts before one it already holds, and another
    transaction holds that key: waiting for it could deadlock, so the attempt starts again and takes every key
    it learned in order, from the start."""


@dataclass
class _Queues:
    """The queue keys of one command, across its attempts: those learned in an earlier attempt are taken at
    the first :func:`queue` of the next, all in order."""

    learned: set[str]
    held: set[str] = field(default_factory=set)


_current: ContextVar[_Queues | None] = ContextVar("harbour_command_queues", default=None)


def _keys(queue_on: QueueOn) -> set[str]:
    if queue_on is None:
        return set()
    return {queue_on} if isinstance(queue_on, str) else set(queue_on)


async def _take(conn: Connection, key: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, $2))", key, QUEUE_SEED)


async def queue(conn: Connection, *keys: str) -> None:
    """Queue the running command behind the other commands on ``keys`` too, until it commits.

    For what a command learns only as it decides (housing: the shelter networks a decision reaches; intake: the
    referral of a case). Keys are taken in sorted order, so two commands never wait for each other in a circle:
    a key that sorts before one already held is taken only if it is free, else the attempt starts again
    (:class:`QueueReordered`) and takes all its keys in order. Outside a command (a handler, a timer) the keys
    are taken in order with nothing to start again; PostgreSQL's deadlock detection is the backstop there, and
    the inbox or the timer runner retries. Re-entrant: a key already held costs nothing.
    """
    state = _current.get()
    if state is None:
        for key in sorted(set(keys)):
            await _take(conn, key)
        return
    wanted = (set(keys) | state.learned) - state.held
    state.learned |= wanted
    for key in sorted(wanted):
        if state.held and key < max(state.held):
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtextextended($1, $2))", key,
                                       QUEUE_SEED):  # fmt: skip
                raise QueueReordered(key)
        else:
            await _take(conn, key)
        state.held.add(key)


def _reason(error: BaseException) -> str:
    match error:
        case ConcurrencyError():
            return "conflict"
        case StreamOrderRetry():
            return "stream-order"
        case QueueReordered():
            return "queue-order"
        case asyncpg.DeadlockDetectedError():
            return "deadlock"
    return "serialization"


async def retrying(
    pool_tx: Callable[[], AbstractAsyncContextManager[Connection]],
    work: Callable[[Connection], Awaitable[T]],
    *,
    retry: bool = True,
    queue_on: QueueOn = None,
) -> T:
    """Run ``work(conn)`` in a fresh transaction, again from the start when another writer won a race.

    ``retry=False`` when the client named the version it decided on: then a conflict is the client's to see
    (409), never silently re-decided for it. Without one, a handler or timer that appended meanwhile (a legal
    fact noted on the track) must not turn a caseworker's command into an error.

    ``queue_on`` names what the commands contend for (one case's file; several keys are taken in order): the
    transaction first takes those advisory locks, so a burst of commands on one case runs one after the other,
    each reading what the one before committed, instead of all but one failing and retrying. Keys learned
    while deciding are added with :func:`queue`. Writers that do not take them (handlers, timers) are still
    kept out by the store's version check, and a race with them is retried here.
    """
    state = _Queues(learned=_keys(queue_on))
    token = _current.set(state)
    try:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            state.held = set()
            try:
                async with pool_tx() as conn:
                    if state.learned:
                        await queue(conn)
                    return await work(conn)
            except (*RETRYABLE, QueueReordered) as lost:
                # A lost place in the queue is no conflict: the attempt decided nothing a client pinned.
                if (not retry and not isinstance(lost, QueueReordered)) or attempt == MAX_ATTEMPTS:
                    raise
                telemetry.COMMAND_RETRIES.labels(_reason(lost)).inc()
                # Jittered and growing: retries must not march in step, nor keep colliding under a burst.
                await asyncio.sleep(random.uniform(0, min(0.1, 0.002 * 2**attempt)))
        raise AssertionError("unreachable")
    finally:
        _current.reset(token)
