"""Running a command's work in one transaction, again from a fresh read when another writer won a race."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

import asyncpg

from harbour.db import Connection
from harbour.errors import ConcurrencyError
from harbour.store.eventstore import StreamOrderRetry

T = TypeVar("T")
# Enough for a burst of commands on one stream even without a queue (``queue_on``): each round one of them wins.
MAX_ATTEMPTS = 10
# Another writer got there first: re-reading and deciding again resolves it.
RETRYABLE = (ConcurrencyError, StreamOrderRetry, asyncpg.SerializationError, asyncpg.DeadlockDetectedError)


async def retrying(
    pool_tx: Callable[[], AbstractAsyncContextManager[Connection]],
    work: Callable[[Connection], Awaitable[T]],
    *,
    retry: bool = True,
    queue_on: str | None = None,
) -> T:
    """Run ``work(conn)`` in a fresh transaction, again from the start when another writer won a race.

    ``retry=False`` when the client named the version it decided on: then a conflict is the client's to see
    (409), never silently re-decided for it. Without one, a handler or timer that appended meanwhile (a legal
    fact noted on the track) must not turn a caseworker's command into an error.

    ``queue_on`` names what the commands contend for (one case's file): the transaction first takes that
    advisory lock, so a burst of commands on one case runs one after the other, each reading what the one
    before committed, instead of all but one failing and retrying. Writers that do not take it (handlers,
    timers) are still kept out by the store's version check, and a race with them is retried here.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            async with pool_tx() as conn:
                if queue_on is not None:
                    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 1))", queue_on)
                return await work(conn)
        except RETRYABLE:
            if not retry or attempt == MAX_ATTEMPTS:
                raise
            # Jittered and growing: retries must not march in step, nor keep colliding under a burst.
            await asyncio.sleep(random.uniform(0, min(0.1, 0.002 * 2**attempt)))
    raise AssertionError("unreachable")
