"""Aggregates: commands in, events out, invariants kept. Pure: no I/O, no clock reads except the one passed in."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar
from uuid import UUID, uuid4

from harbour.events import DomainEvent


class Aggregate:
    """Base of every aggregate.

    Subclasses set ``stream_type`` and implement :meth:`apply` (state change for one event, never fails).
    Command methods check invariants, raise :class:`harbour.errors.RuleViolation` on a breach, and
    call :meth:`_record` for each new event.
    """

    stream_type: ClassVar[str]

    def __init__(self, id: str) -> None:
        self.id = id
        self.version = 0
        self._pending: list[tuple[UUID, DomainEvent]] = []

    @property
    def stream_id(self) -> str:
        return f"{self.stream_type}-{self.id}"

    @property
    def case_key(self) -> str:
        """The Kafka partition key of this stream's events: the case id (a referral's id before admission)."""
        return self.id

    def case_key_for(self, event: DomainEvent) -> str:
        """The case an event concerns; an aggregate spanning cases (a shelter network) overrides this."""
        return self.case_key

    @property
    def exists(self) -> bool:
        return self.version > 0 or bool(self._pending)

    def apply(self, event: DomainEvent) -> None:  # pragma: no cover - every aggregate overrides it
        raise TypeError(f"{type(self).__name__} does not handle {type(event).__name__}")

    def _record(self, event: DomainEvent, *, event_id: UUID | None = None) -> None:
        """Apply and queue a new event. ``event_id`` may be fixed in advance when personal data in the
        event was sealed with the event id as associated data."""
        self.apply(event)
        self._pending.append((event_id or uuid4(), event))

    def replay(self, events: Iterable[DomainEvent]) -> None:
        for event in events:
            self.apply(event)
            self.version += 1

    def pending(self) -> list[DomainEvent]:
        return [event for _, event in self._pending]

    def pending_with_ids(self) -> list[tuple[UUID, DomainEvent]]:
        return list(self._pending)

    def mark_saved(self) -> None:
        self.version += len(self._pending)
        self._pending.clear()
