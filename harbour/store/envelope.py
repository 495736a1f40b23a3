"""The envelope: everything about an event that is not its payload."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID, uuid4

from harbour.events import EVENT_TYPES, JSON, DomainEvent


@dataclass(frozen=True)
class Actor:
    org: str | None = None
    role: str | None = None
    user: str | None = None

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(org="harbour", role="system", user=name)


@dataclass(frozen=True)
class CommandContext:
    """Who asks, and the causal chain the resulting events belong to."""

    actor: Actor
    correlation_id: UUID = field(default_factory=uuid4)
    causation_id: UUID | None = None
    traceparent: str | None = None

    def caused_by(self, event: RecordedEvent, actor: Actor | None = None) -> CommandContext:
        """The context of events written in reaction to ``event``: same correlation, caused by it."""
        return CommandContext(
            actor=actor or self.actor,
            correlation_id=event.correlation_id or event.event_id,
            causation_id=event.event_id,
            traceparent=self.traceparent,
        )


@dataclass(frozen=True)
class NewEvent:
    event: DomainEvent
    event_id: UUID = field(default_factory=uuid4)
    case_id: str | None = None  # when one stream's events concern several cases (a shelter network's beds)


@dataclass(frozen=True)
class RecordedEvent:
    event_id: UUID
    stream_id: str
    stream_type: str
    stream_version: int
    global_position: int
    tx_id: int
    event_type: str
    schema_version: int
    payload: JSON
    case_id: str
    jurisdiction: str
    occurred_at: datetime
    recorded_at: datetime
    actor: Actor
    correlation_id: UUID | None
    causation_id: UUID | None
    traceparent: str | None
    # The payload exactly as stored, when read from the store: published as is, without re-serialising.
    payload_json: str | None = None

    @property
    def event(self) -> DomainEvent:
        """The payload as its pydantic class, lifted to the current schema version by the upcasters."""
        return EVENT_TYPES.decode(self.event_type, self.schema_version, self.payload)

    # -- Kafka form: payload as the value, envelope in headers ------------------------------------------
    def headers(self) -> list[tuple[str, bytes]]:
        # Built at relay rates (one per published message): plain appends, no intermediate dict.
        headers = [
            ("event_id", str(self.event_id).encode()),
            ("event_type", self.event_type.encode()),
            ("schema_version", b"%d" % self.schema_version),
            ("stream_id", self.stream_id.encode()),
            ("stream_type", self.stream_type.encode()),
            ("stream_version", b"%d" % self.stream_version),
            ("global_position", b"%d" % self.global_position),
            ("tx_id", b"%d" % self.tx_id),
            ("case_id", self.case_id.encode()),
            ("jurisdiction", self.jurisdiction.encode()),
            ("occurred_at", self.occurred_at.isoformat().encode()),
            ("recorded_at", self.recorded_at.isoformat().encode()),
            ("content-type", b"application/json"),
        ]
        optional = (
            ("actor_org", self.actor.org),
            ("actor_role", self.actor.role),
            ("actor_user", self.actor.user),
            ("correlation_id", self.correlation_id and str(self.correlation_id)),
            ("causation_id", self.causation_id and str(self.causation_id)),
            ("traceparent", self.traceparent),
        )
        headers.extend((k, v.encode()) for k, v in optional if v is not None)
        return headers

    def value(self) -> bytes:
        if self.payload_json is not None:
            return self.payload_json.encode()
        return json.dumps(self.payload, separators=(",", ":"), default=str).encode()

    @classmethod
    def from_kafka(cls, headers: dict[str, str], value: bytes) -> RecordedEvent:
        """Rebuild an envelope from a consumed message; raises KeyError/ValueError on a malformed one."""

        def opt_uuid(name: str) -> UUID | None:
            raw = headers.get(name)
            return UUID(raw) if raw else None

        payload = json.loads(value)
        if not isinstance(payload, dict):
            raise ValueError("message value is not a JSON object")
        return cls(
            event_id=UUID(headers["event_id"]),
            stream_id=headers["stream_id"],
            stream_type=headers.get("stream_type", ""),
            stream_version=int(headers["stream_version"]),
            global_position=int(headers.get("global_position", "0")),
            tx_id=int(headers.get("tx_id", "0")),
            event_type=headers["event_type"],
            schema_version=int(headers["schema_version"]),
            payload=payload,
            case_id=headers["case_id"],
            jurisdiction=headers.get("jurisdiction", "BE"),
            occurred_at=datetime.fromisoformat(headers["occurred_at"]),
            recorded_at=datetime.fromisoformat(headers.get("recorded_at", headers["occurred_at"])),
            actor=Actor(headers.get("actor_org"), headers.get("actor_role"), headers.get("actor_user")),
            correlation_id=opt_uuid("correlation_id"),
            causation_id=opt_uuid("causation_id"),
            traceparent=headers.get("traceparent"),
        )
