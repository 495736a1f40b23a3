"""Read models. Updated inline, in the transaction that appends the events, and rebuildable from position 0."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, ClassVar

from harbour.db import Connection
from harbour.store.envelope import RecordedEvent

# A projection's handler of one event type: it writes its rows on the appending transaction's connection.
Handler = Callable[[Connection, RecordedEvent], Awaitable[None]]


class Projection:
    """A read model. Subclasses name their tables (emptied on rebuild) and handle the event types they need.

    Handlers are methods named ``on_<EventType>`` or registered in ``handlers``; unknown types are ignored.
    A projection must be deterministic from the events alone: a rebuild gives the same rows.
    """

    name: ClassVar[str]
    tables: ClassVar[tuple[str, ...]] = ()

    def handlers(self) -> dict[str, Handler]:
        found: dict[str, Handler] = {}
        for attr in dir(self):
            if attr.startswith("on_"):
                found[attr[3:]] = getattr(self, attr)
        return found

    async def handle(self, conn: Connection, event: RecordedEvent) -> None:
        handler = self.handler_for(event.event_type)
        if handler is not None:
            await handler(conn, event)

    def handler_for(self, event_type: str) -> Handler | None:
        """The handler of ``event_type`` (its name after the last dot, else the full name), None if none."""
        resolved: dict[str, Handler | None] | None = self.__dict__.get("_resolved_handlers")
        if resolved is None:
            resolved = self.__dict__["_resolved_handlers"] = {}
        if event_type not in resolved:  # once per type: a rebuild asks for every stored event
            handlers = self._handlers()
            resolved[event_type] = handlers.get(event_type.rpartition(".")[2]) or handlers.get(event_type)
        return resolved[event_type]

    def _handlers(self) -> dict[str, Handler]:
        cached: dict[str, Handler] | None = self.__dict__.get("_cached_handlers")
        if cached is None:
            cached = self.handlers()
            self.__dict__["_cached_handlers"] = cached
        return cached

    async def reset(self, conn: Connection) -> None:
        for table in self.tables:
            await conn.execute(f"TRUNCATE {table}")


# What would run beside the queue rather than after it (a savepoint, a cursor): refused.
_NOT_DEFERRABLE = frozenset({"transaction", "cursor"})


class DeferredWrites:
    """The connection a rebuild hands to projection handlers: runs of writes sent as one pipelined batch.

    A handler writes with one statement per event, and each statement is a round trip to PostgreSQL; replaying
    a whole store, the round trips, not the work, set the pace (bench.replay: ~1,900 upserts/s against ~94,000
    rows/s read by a plain cursor). Here ``execute`` with arguments is queued, and consecutive statements of the
    same text go to the server as one ``executemany`` (asyncpg pipelines its Bind/Execute messages: one round
    trip for the run). Anything else the handler calls on the connection (``fetch``, ``fetchval``, ...) first
    sends what is queued, so a handler that reads rows an earlier event wrote sees them, and statements run in
    the order the handlers issued them.

    What changes for a handler: ``execute`` returns ``""`` instead of the command's status (no projection
    reads it), and a failing statement raises at the next flush, from a later handler or from ``flush()``; a
    rebuild is one transaction, so either way it rolls back whole. The connection's other methods run after
    the queue; a handler opening a savepoint or a cursor is refused with a TypeError, never run out of order.
    Used by ``harbour_tools.ops.rebuild``, never on the append's inline path, where an append's few events
    gain little and a status may be wanted.
    """

    MAX_QUEUED = 1000  # statements held before a flush (bounds the memory of one batch)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._query: str | None = None
        self._queued: list[Sequence[Any]] = []
        self._sending: asyncio.Task[None] | None = None

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        if not args or timeout is not None:  # a script (simple protocol) or a statement with its own timeout
            await self.flush()
            return await self._conn.execute(query, *args, timeout=timeout)
        if query != self._query:
            await self.flush()
            self._query = query
        self._queued.append(args)
        if len(self._queued) >= self.MAX_QUEUED:
            await self.flush()
        return ""

    async def executemany(self, query: str, args: Iterable[Sequence[Any]], *, timeout: float | None = None) -> None:
        await self.flush()
        await self._conn.executemany(query, args, timeout=timeout)

    async def flush(self) -> None:
        """Send what is queued (one pipelined ``executemany``); raises what a queued statement raised."""
        await self.settle()
        await self._send_queued()

    async def send(self) -> None:
        """Start sending what is queued and return without waiting for the server.

        The rebuild calls it once a page's handlers have run: the server executes that page's statements while
        the next page is decoded (on a machine of 2 cores, the two halves of the work overlap instead of taking
        turns). Whatever comes next on this connection (a statement, a read, ``flush()``) waits for it first,
        so the order of effects is kept; a failure raises there, or from ``settle()``. The caller must give the
        event loop a turn now and then (``await asyncio.sleep(0)``) for the statements to go out in chunks.
        """
        await self.settle()
        if self._queued:
            self._sending = asyncio.ensure_future(self._send_queued())
            await asyncio.sleep(0)  # its first chunk goes out now

    async def settle(self) -> None:
        """Wait for what ``send()`` started; raises what a statement of it raised."""
        sending, self._sending = self._sending, None
        if sending is not None:
            await sending

    async def _send_queued(self) -> None:
        if not self._queued:
            return
        query, queued = self._query, self._queued
        self._query, self._queued = None, []
        assert query is not None
        if len(queued) == 1:
            await self._conn.execute(query, *queued[0])
        else:
            await self._conn.executemany(query, queued)

    def __getattr__(self, name: str) -> Any:
        if name in _NOT_DEFERRABLE:
            raise TypeError(f"a projection rebuilt in batches cannot call conn.{name}() (only statements)")
        attr = getattr(self._conn, name)
        if not callable(attr):
            return attr

        async def after_the_queue(*args: Any, **kwargs: Any) -> Any:
            await self.flush()
            result = attr(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        return after_the_queue
