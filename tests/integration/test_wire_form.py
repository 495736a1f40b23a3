"""The Kafka form of a stored event has two renderings that must never drift apart.

The relay has PostgreSQL render each message (``EventStore.read_wire``); replay and the routed relays render it
in Python (``RecordedEvent.headers`` through ``domain_message``). Consumers see both, so both must give the
same key, value and headers, byte for byte, and decode back to the envelope that was stored.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import pytest

from harbour.clock import ManualClock
from harbour.kafka.relay import domain_message
from harbour.store import Actor, CommandContext, EventStore, Position, RecordedEvent
from harbour.store.eventstore import wire_header_names
from tests.support.pantry import ShelfEmptied, ShelfStocked
from tests.support.waiting import wait_until

TOPIC = "pantry.events"
TRACEPARENT = "00-" + "c" * 32 + "-" + "d" * 16 + "-01"

Message = tuple[bytes, bytes, list[tuple[str, bytes]]]
Rendering = Callable[[EventStore], Coroutine[Any, Any, list[Message]]]


async def rendered_in_python(store: EventStore) -> list[Message]:
    messages = [domain_message(TOPIC, event) for event in await store.read_all(Position(), limit=100)]
    return [(m.key, m.value, list(m.headers)) for m in messages]


async def rendered_by_postgresql(store: EventStore) -> list[Message]:
    # As the relay sends them, before it swaps the stored traceparent for its publish span's.
    return [
        (row["key"], row["value"], [*zip(wire_header_names(row["absent"]), row["headers"], strict=True)]
                                   + ([("traceparent", row["traceparent"].encode())] if row["traceparent"] else []))
        for row in await EventStore.read_wire(store, Position(), limit=100)
    ]  # fmt: skip


RENDERINGS = {"python": rendered_in_python, "postgresql": rendered_by_postgresql}


async def store_varied_events(store: EventStore) -> None:
    """Every optional envelope field both present and absent, a whole-second timestamp, non-ASCII text."""
    full = CommandContext(actor=Actor("centre-sürya", "caseworker", "ü-1"), traceparent=TRACEPARENT)
    first = await store.append(stream_id="shelf-é", stream_type="shelf", case_id="case-Liège", expected_version=0,
                               events=[ShelfStocked(shelf_id="é", item="riz «basmati» 🍚", count=3, unit="kg")],
                               context=full)  # fmt: skip
    await store.append(stream_id="shelf-é", stream_type="shelf", case_id="case-Liège", expected_version=1,
                       events=[ShelfEmptied(shelf_id="é")], context=full.caused_by(first[0]))  # fmt: skip
    await store.append(stream_id="shelf-2", stream_type="shelf", case_id="case-2", expected_version=None,
                       events=[ShelfEmptied(shelf_id="2")], context=CommandContext(actor=Actor()))  # fmt: skip


@pytest.fixture
async def store(db_pool) -> EventStore:
    # A whole second: Python's isoformat would drop the microseconds that PostgreSQL's rendering always writes.
    store = EventStore(db_pool, clock=ManualClock(datetime(2026, 11, 29, 9, 0, tzinfo=UTC)))
    await store_varied_events(store)
    # Readable once every older transaction on the server has ended (see EventStore.read_all).
    await all_three(lambda: store.read_all(Position(), limit=100))
    return store


async def all_three(read: Callable[[], Coroutine[Any, Any, list[Any]]]) -> list[Any]:
    """A read that holds all three events. The read bound may step back for a moment after it was reached (a
    transaction of another database ending between the statement's snapshot and its look at pg_stat_activity,
    see EventStore.read_all): one read of the suite's busy server gave 1 of 3 after an earlier read gave 3."""
    found: list[Any] = []

    async def complete() -> bool:
        found[:] = await read()
        return len(found) >= 3

    await wait_until(complete)
    return found


@pytest.mark.parametrize("rendering", RENDERINGS.values(), ids=RENDERINGS.keys())
async def test_each_rendering_decodes_back_to_the_stored_envelope(store: EventStore, rendering: Rendering):
    stored = await all_three(lambda: store.read_all(Position(), limit=100))
    messages = await all_three(lambda: rendering(store))
    assert len(messages) == len(stored) == 3
    for event, (key, value, headers) in zip(stored, messages, strict=True):
        assert key == event.case_id.encode()
        decoded = RecordedEvent.from_kafka({k: v.decode() for k, v in headers}, value)
        assert decoded == RecordedEvent(**{**event.__dict__, "payload_json": None})
        assert decoded.event == event.event


@pytest.mark.parametrize("rendering", RENDERINGS.values(), ids=RENDERINGS.keys())
async def test_each_rendering_leaves_absent_envelope_fields_out_and_writes_timestamps_alike(
    store: EventStore, rendering: Rendering
):
    *_, anonymous = await all_three(lambda: rendering(store))
    names = [name for name, _ in anonymous[2]]
    assert not {"actor_org", "actor_role", "actor_user", "causation_id", "traceparent"} & set(names)
    assert dict(anonymous[2])["occurred_at"] == b"2026-11-29T09:00:00.000000+00:00"


async def test_postgresql_renders_the_relay_s_messages_byte_for_byte_as_python_does(store: EventStore):
    assert await all_three(lambda: rendered_by_postgresql(store)) == await all_three(lambda: rendered_in_python(store))
