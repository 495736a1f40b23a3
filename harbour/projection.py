"""Read models. Updated inline, in the transaction that appends the events, and rebuildable from position 0."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from harbour.store.envelope import RecordedEvent


class Projection:
    """A read model. Subclasses name their tables (emptied on rebuild) and handle the event types they need.

    Handlers are methods named ``on_<EventType>`` or registered in ``handlers``; unknown types are ignored.
    A projection must be deterministic from the events alone: a rebuild gives the same rows.
    """

    name: ClassVar[str]
    tables: ClassVar[tuple[str, ...]] = ()

    def handlers(self) -> dict[str, Callable[[Any, RecordedEvent], Any]]:
        found = {}
        for attr in dir(self):
            if attr.startswith("on_"):
                found[attr[3:]] = getattr(self, attr)
        return found

    async def handle(self, conn: Any, event: RecordedEvent) -> None:
        handler = self._handlers().get(event.event_type.rpartition(".")[2]) or self._handlers().get(event.event_type)
        if handler is not None:
            await handler(conn, event)

    def _handlers(self) -> dict[str, Callable[[Any, RecordedEvent], Any]]:
        cached = self.__dict__.get("_cached_handlers")
        if cached is None:
            cached = self.handlers()
            self.__dict__["_cached_handlers"] = cached
        return cached

    async def reset(self, conn: Any) -> None:
        for table in self.tables:
            await conn.execute(f"TRUNCATE {table}")
