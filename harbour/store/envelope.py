"""The envelope: everything about an event that is not its payload."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID, uuid4

from harbour.events import EVENT_TYPES, JSON, DomainEvent


def wire_timestamp(moment: datetime) -> str:
    """UTC with microseconds always present, as ``WIRE_TIMESTAMP`` renders it in SQL."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


WIRE_TIMESTAMP = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""

# The envelope as Kafka headers, in the order they are sent: each header's name and the SQL rendering it from
# an ``events`` row. The relay has PostgreSQL render them (it then only hands bytes to the producer: building
# them in Python cost more per event than the send itself); ``RecordedEvent.headers`` renders the same bytes
# and a contract test holds the two together. A NULL header is left out. The stored traceparent comes last:
# the relay sends its publish span's instead, which continues that trace.
WIRE_HEADERS: tuple[tuple[str, str], ...] = (
    ("event_id", "event_id::text"),
    ("event_type", "event_type"),
    ("schema_version", "schema_version::text"),
    ("stream_id", "stream_id"),
    ("stream_type", "stream_type"),
    ("stream_version", "stream_version::text"),
    ("global_position", "global_position::text"),
    ("tx_id", "tx_id::text"),
    ("case_id", "case_id"),
    ("jurisdiction", "jurisdiction"),
    ("occurred_at", WIRE_TIMESTAMP.format("occurred_at")),
    ("recorded_at", WIRE_TIMESTAMP.format("recorded_at")),
    ("content-type", "'application/json'"),
    ("actor_org", "actor_org"),
    ("actor_role", "actor_role"),
    ("actor_user", "actor_user"),
    ("correlation_id", "correlation_id::text"),
    ("causation_id", "causation_id::text"),
    ("traceparent", "traceparent"),
)
HEADER_NAMES: tuple[str, ...] = tuple(name for name, _ in WIRE_HEADERS)
OPTIONAL_HEADERS = frozenset({"actor_org", "actor_role", "actor_user", "correlation_id", "causation_id", "traceparent"})


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
        """The envelope headers, byte for byte what PostgreSQL renders from ``WIRE_HEADERS`` for the relay."""
        values = (
            str(self.event_id), self.event_type, str(self.schema_version), self.stream_id, self.stream_type,
            str(self.stream_version), str(self.global_position), str(self.tx_id), self.case_id, self.jurisdiction,
            wire_timestamp(self.occurred_at), wire_timestamp(self.recorded_at), "application/json",
            self.actor.org, self.actor.role, self.actor.user,
            None if self.correlation_id is None else str(self.correlation_id),
            None if self.causation_id is None else str(self.causation_id),
            self.traceparent,
        )  # fmt: skip
        return [(name, value.encode()) for name, value in zip(HEADER_NAMES, values, strict=True) if value is not None]

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
