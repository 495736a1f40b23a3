"""A stored row becomes the RecordedEvent the dataclass would have built, without going through its __init__."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import uuid4

import pytest

from harbour.events import EVENT_TYPES, DomainEvent, upcaster
from harbour.store import Actor, RecordedEvent
from harbour.store.eventstore import _record


class ParcelWeighed(DomainEvent):
    event_type: ClassVar[str] = "test.ParcelWeighed"
    schema_version: ClassVar[int] = 2
    parcel_id: str
    grams: int


@upcaster("test.ParcelWeighed", 1)
def _kilos_to_grams(payload: dict[str, Any]) -> dict[str, Any]:
    return {"parcel_id": payload["parcel_id"], "grams": payload.pop("kilos") * 1000}


def _row(**changes: Any) -> dict[str, Any]:
    # What asyncpg hands back for _COLUMNS: read by name, as a Record is.
    return {
        "global_position": 7, "tx_id": 901, "event_id": uuid4(), "stream_id": "parcel-1", "stream_type": "parcel",
        "stream_version": 3, "event_type": "test.ParcelWeighed", "schema_version": 2,
        "payload": '{"parcel_id":"p1","grams":1500}', "case_id": "case-1", "jurisdiction": "BE",
        "occurred_at": datetime(2026, 12, 3, 9, tzinfo=UTC), "recorded_at": datetime(2026, 12, 3, 9, 1, tzinfo=UTC),
        "actor_org": "centre-payoke", "actor_role": "caseworker", "actor_user": "t", "correlation_id": uuid4(),
        "causation_id": None, "traceparent": None, **changes,
    }  # fmt: skip


def test_a_stored_row_gives_the_same_event_as_the_dataclass_constructor() -> None:
    row = _row()
    built = RecordedEvent(
        event_id=row["event_id"], stream_id="parcel-1", stream_type="parcel", stream_version=3, global_position=7,
        tx_id=901, event_type="test.ParcelWeighed", schema_version=2, payload={"parcel_id": "p1", "grams": 1500},
        case_id="case-1", jurisdiction="BE", occurred_at=row["occurred_at"], recorded_at=row["recorded_at"],
        actor=Actor("centre-payoke", "caseworker", "t"), correlation_id=row["correlation_id"], causation_id=None,
        traceparent=None, payload_json=row["payload"],
    )  # fmt: skip
    recorded = _record(row)  # type: ignore[arg-type]
    assert recorded == built
    assert recorded.__dict__ == built.__dict__, "no field more or less than __init__ sets"
    assert RecordedEvent(**recorded.__dict__) == recorded
    with pytest.raises(dataclasses.FrozenInstanceError):
        recorded.stream_id = "other"  # type: ignore[misc]


def test_an_event_stored_at_an_older_version_is_still_upcast_when_decoded() -> None:
    old = _record(_row(schema_version=1, payload=json.dumps({"parcel_id": "p1", "kilos": 2})))  # type: ignore[arg-type]
    current = _record(_row())  # type: ignore[arg-type]
    assert old.event == ParcelWeighed(parcel_id="p1", grams=2000)
    assert current.event == ParcelWeighed(parcel_id="p1", grams=1500)
    assert EVENT_TYPES.decode("test.ParcelWeighed", 2, {"parcel_id": "p2", "grams": 1}) == ParcelWeighed(
        parcel_id="p2", grams=1
    )
