"""Load aggregates from their streams and save their new events, with inline projections in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar
from uuid import UUID

from harbour.aggregate import Aggregate
from harbour.db import Connection
from harbour.errors import NotFound
from harbour.events import DomainEvent
from harbour.projection import Projection
from harbour.store import CommandContext, EventStore, NewEvent, RecordedEvent

A = TypeVar("A", bound=Aggregate)


class Repository:
    def __init__(self, store: EventStore, projections: Sequence[Projection] = ()) -> None:
        self.store = store
        self.projections = list(projections)

    async def load(self, cls: type[A], id: str, *, conn: Connection | None = None, missing: str | None = None) -> A:
        """The aggregate rebuilt from its stream; NotFound (404) when the stream is empty."""
        aggregate = await self.load_or_new(cls, id, conn=conn)
        if aggregate.version == 0:
            raise NotFound(missing or f"no {cls.stream_type} {id}")
        return aggregate

    async def load_or_new(self, cls: type[A], id: str, *, conn: Connection | None = None) -> A:
        aggregate = cls(id)
        recorded = await self.store.read_stream(aggregate.stream_id, conn=conn)
        aggregate.replay(r.event for r in recorded)
        return aggregate

    async def save(
        self, aggregate: Aggregate, context: CommandContext, *, conn: Connection | None = None
    ) -> list[RecordedEvent]:
        """Append the aggregate's pending events at the version it was loaded at (409 if it moved on)."""
        pending = aggregate.pending_with_ids()
        if not pending:
            return []
        if conn is None:
            async with self.store.transaction() as own:
                recorded = await self._save(aggregate, pending, context, own)
        else:
            recorded = await self._save(aggregate, pending, context, conn)
        aggregate.mark_saved()
        return recorded

    async def _save(
        self, aggregate: Aggregate, pending: list[tuple[UUID, DomainEvent]], context: CommandContext, conn: Connection
    ) -> list[RecordedEvent]:
        recorded = await self.store.append(
            stream_id=aggregate.stream_id,
            stream_type=aggregate.stream_type,
            case_id=aggregate.case_key,
            expected_version=aggregate.version,
            events=[NewEvent(event, event_id, aggregate.case_key_for(event)) for event_id, event in pending],
            context=context,
            conn=conn,
        )
        # Inline projections: the read model commits with the events, so a caller reads its own writes.
        for event in recorded:
            for projection in self.projections:
                await projection.handle(conn, event)
        return recorded
