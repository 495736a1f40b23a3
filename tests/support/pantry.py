"""A small test-only domain: a pantry whose shelves are stocked and emptied.

It exercises the shared runtime (store, relay, inbox, DLQ, telemetry, access) without any real service's rules.
"""

from __future__ import annotations

from typing import ClassVar

from harbour.aggregate import Aggregate
from harbour.errors import RuleViolation
from harbour.events import JSON, DomainEvent, upcaster


class ShelfStocked(DomainEvent):
    event_type: ClassVar[str] = "test.ShelfStocked"
    # v1 stored ``count`` only; v2 names the unit.
    schema_version: ClassVar[int] = 2
    shelf_id: str
    item: str
    count: int
    unit: str


@upcaster("test.ShelfStocked", 1)
def _shelf_stocked_v1_to_v2(payload: JSON) -> JSON:
    payload.setdefault("unit", "piece")
    return payload


class ShelfEmptied(DomainEvent):
    event_type: ClassVar[str] = "test.ShelfEmptied"
    shelf_id: str


class Shelf(Aggregate):
    stream_type = "shelf"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.items: dict[str, int] = {}

    def stock(self, item: str, count: int, unit: str = "piece") -> None:
        if count <= 0:
            raise RuleViolation("a shelf is stocked with at least one item", field="count")
        self._record(ShelfStocked(shelf_id=self.id, item=item, count=count, unit=unit))

    def empty(self) -> None:
        if not self.items:
            raise RuleViolation("the shelf is already empty", field="shelf_id")
        self._record(ShelfEmptied(shelf_id=self.id))

    def apply(self, event: DomainEvent) -> None:
        match event:
            case ShelfStocked(item=item, count=count):
                self.items[item] = self.items.get(item, 0) + count
            case ShelfEmptied():
                self.items.clear()
