"""Running a command's work in one transaction, again from a fresh read when another writer won a race."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from harbour.errors import ConcurrencyError
from harbour.store.eventstore import StreamOrderRetry

T = TypeVar("T")
MAX_ATTEMPTS = 5
# Another writer got there first: re-reading and deciding again resolves it.
RETRYABLE = (ConcurrencyError, StreamOrderRetry, asyncpg.SerializationError, asyncpg.DeadlockDetectedError)


async def retrying(pool_tx: Callable[[], Any], work: Callable[[Any], Awaitable[T]], *, retry: bool = True) -> T:
    """Run ``work(conn)`` in a fresh transaction, again from the start when another writer won a race.

    ``retry=False`` when the client named the version it decided on: then a conflict is the client's to see
    (409), never silently re-decided for it. Without one, a handler or timer that appended meanwhile (a legal
    fact noted on the track) must not turn a caseworker's command into an error.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            async with pool_tx() as conn:
                return await work(conn)
        except RETRYABLE:
            if not retry or attempt == MAX_ATTEMPTS:
                raise
            await asyncio.sleep(random.uniform(0, 0.002 * attempt))  # jitter: retries must not march in step
    raise AssertionError("unreachable")
