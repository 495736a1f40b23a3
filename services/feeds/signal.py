"""Wakes a process's SSE streams when a milestone of their audience commits (LISTEN on the feeds database).

Every replica listens, whichever replica's consumer stored the milestone. A notification is only a hint to
read the table again: a stream also re-reads whenever its heartbeat interval passes, and everyone is woken
after the listening connection is re-established, so a lost notification costs latency, never a milestone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from services.feeds.projections import CHANNEL

log = logging.getLogger("harbour.feeds.signal")


class FeedSignal:
    def __init__(self, dsn: str, *, reconnect_seconds: float = 1.0) -> None:
        self.dsn = dsn
        self.reconnect_seconds = reconnect_seconds
        self._waiters: dict[str, asyncio.Event] = {}
        self._listeners: list[Callable[[], None]] = []  # told of every wake-up (the webhook workers)
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    def waiter(self, audience: str) -> asyncio.Event:
        """Take it *before* reading the table: a commit after the read then sets it (no lost wake-up)."""
        return self._waiters.setdefault(audience, asyncio.Event())

    def on_wake(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` at every wake-up, of any audience (it then reads the tables itself)."""
        self._listeners.append(listener)

    def wake(self, audience: str | None = None) -> None:
        for listener in self._listeners:
            listener()
        if audience is None:
            events, self._waiters = list(self._waiters.values()), {}
        else:
            found = self._waiters.pop(audience, None)
            events = [found] if found is not None else []
        for event in events:
            event.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="feeds:listen")

    async def close(self) -> None:
        self.closed = True
        self.wake()  # open streams see ``closed`` and end, so a shutdown is not held up by them
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        while not self.closed:
            conn: asyncpg.Connection | None = None
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(self.dsn)
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._notified)
                self.wake()  # whatever committed while nobody listened is read now
                await lost.wait()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("feeds cannot listen for milestones (%s); streams poll meanwhile", type(error).__name__)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)
            await asyncio.sleep(self.reconnect_seconds)

    def _notified(self, _conn: Any, _pid: int, _channel: str, audience: str) -> None:
        self.wake(audience)
