"""The event store: streams with versions, a gap-free global order, the envelope around every event."""

from harbour.store.envelope import Actor, CommandContext, NewEvent, RecordedEvent
from harbour.store.eventstore import EventStore, Position, lock_stream

__all__ = ["Actor", "CommandContext", "EventStore", "NewEvent", "Position", "RecordedEvent", "lock_stream"]
