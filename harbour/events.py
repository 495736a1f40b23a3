"""Domain events: pydantic models with a stable type name and schema version, and their upcasters.

An event class declares ``event_type`` and ``schema_version``.  Stored payloads of older versions are
upgraded at read time by pure functions registered with :func:`upcaster`, one version step at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

JSON = dict[str, Any]


class DomainEvent(BaseModel):
    """Base of every event. Payload fields only: the envelope (ids, times, actor, trace) lives beside it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "event_type" in cls.__dict__:
            EVENT_TYPES.register(cls)


class EventTypeRegistry:
    """Maps stored type names to classes, and old schema versions to the upcasters that lift them."""

    def __init__(self) -> None:
        self._types: dict[str, type[DomainEvent]] = {}
        self._upcasters: dict[tuple[str, int], Callable[[JSON], JSON]] = {}

    def register(self, cls: type[DomainEvent]) -> None:
        existing = self._types.get(cls.event_type)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ValueError(f"event type {cls.event_type!r} registered twice ({existing} and {cls})")
        self._types[cls.event_type] = cls

    def cls_for(self, event_type: str) -> type[DomainEvent]:
        try:
            return self._types[event_type]
        except KeyError:
            raise LookupError(f"unknown event type {event_type!r}") from None

    def known(self, event_type: str) -> bool:
        return event_type in self._types

    def add_upcaster(self, event_type: str, from_version: int, fn: Callable[[JSON], JSON]) -> None:
        self._upcasters[(event_type, from_version)] = fn

    def upcast(self, event_type: str, version: int, payload: JSON) -> tuple[int, JSON]:
        """Lift a stored payload to the class's current version, step by step."""
        target = self.cls_for(event_type).schema_version
        while version < target:
            step = self._upcasters.get((event_type, version))
            if step is None:
                raise LookupError(f"no upcaster for {event_type} v{version} -> v{version + 1}")
            payload = step(dict(payload))
            version += 1
        return version, payload

    def decode(self, event_type: str, version: int, payload: JSON) -> DomainEvent:
        cls = self._types.get(event_type)
        if cls is not None and version == cls.schema_version:
            # Stored at the current version, as most events are: no upcast to look for (a rebuild decodes every
            # stored event, and the upcast's lookups cost as much as the validation).
            return cls.model_validate(payload)
        _, lifted = self.upcast(event_type, version, payload)
        return self.cls_for(event_type).model_validate(lifted)

    def all(self) -> dict[str, type[DomainEvent]]:
        return dict(self._types)


EVENT_TYPES = EventTypeRegistry()


def upcaster(event_type: str, from_version: int) -> Callable[[Callable[[JSON], JSON]], Callable[[JSON], JSON]]:
    """Register a pure function lifting ``event_type`` payloads from ``from_version`` to the next one."""

    def register(fn: Callable[[JSON], JSON]) -> Callable[[JSON], JSON]:
        EVENT_TYPES.add_upcaster(event_type, from_version, fn)
        return fn

    return register
