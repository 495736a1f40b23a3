"""Read models. Updated inline, in the transaction that appends the events, and rebuildable from position 0."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

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
        handler = self._handlers().get(event.event_type.rpartition(".")[2]) or self._handlers().get(event.event_type)
        if handler is not None:
            await handler(conn, event)

    def _handlers(self) -> dict[str, Handler]:
        cached: dict[str, Handler] | None = self.__dict__.get("_cached_handlers")
        if cached is None:
            cached = self.handlers()
            self.__dict__["_cached_handlers"] = cached
        return cached

    async def reset(self, conn: Connection) -> None:
        for table in self.tables:
            await conn.execute(f"TRUNCATE {table}")
