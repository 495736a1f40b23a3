"""Two test-only services over the pantry domain: ``pantry`` takes HTTP commands and publishes through its relay;
``larder`` consumes them through the inbox and counts, appending its own event in reaction."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from harbour.auth import Caller, require
from harbour.events import DomainEvent
from harbour.kafka.consumer import HandlerContext, Subscription
from harbour.kafka.topics import TopicSpec, register_topics
from harbour.service import RuntimeDep, ServiceDefinition, ServiceRuntime
from harbour.store import RecordedEvent
from tests.support.pantry import Shelf, ShelfStocked

PANTRY_TOPIC = TopicSpec("pantry.events.v1", 4, "case id", description="test-only pantry events")
register_topics([PANTRY_TOPIC])

router = APIRouter(prefix="/shelves", tags=["shelves"])


class StockRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: str = Field(min_length=1, max_length=40)
    count: int
    unit: str = "piece"
    expected_version: int | None = None


class ShelfView(BaseModel):
    shelf_id: str
    version: int
    items: dict[str, int]


@router.post("/{shelf_id}/stock", response_model=ShelfView)
async def stock_shelf(
    shelf_id: str,
    body: StockRequest,
    caller: Caller = Depends(require(kinds={"centre"}, roles={"caseworker"})),
    rt: ServiceRuntime = RuntimeDep,
) -> ShelfView:
    shelf = await rt.repository.load_or_new(Shelf, shelf_id)
    if body.expected_version is not None:
        shelf.version = body.expected_version  # the client's view: a stale one is a 409, not a lost write
    shelf.stock(body.item, body.count, body.unit)
    await rt.repository.save(shelf, rt.command_context(caller))
    return ShelfView(shelf_id=shelf_id, version=shelf.version, items=shelf.items)


@router.get("/{shelf_id}", response_model=ShelfView)
async def read_shelf(
    shelf_id: str, caller: Caller = Depends(require(kinds={"centre"})), rt: ServiceRuntime = RuntimeDep
) -> ShelfView:
    shelf = await rt.repository.load(Shelf, shelf_id)
    return ShelfView(shelf_id=shelf_id, version=shelf.version, items=shelf.items)


PANTRY = ServiceDefinition(
    name="pantry",
    title="Pantry (test)",
    description="Test-only service exercising the shared runtime.",
    port=0,
    domain_topic=PANTRY_TOPIC.name,
    routers=[router],
    topics=[PANTRY_TOPIC],
    published_events=[ShelfStocked],
)


class TallyCounted(DomainEvent):
    event_type: ClassVar[str] = "test.TallyCounted"
    shelf_id: str
    item: str
    total: int


async def count_stock(ctx: HandlerContext, event: RecordedEvent) -> None:
    """Counts stocked items once per event (the inbox makes a redelivery a no-op)."""
    stocked = event.event
    assert isinstance(stocked, ShelfStocked)
    if stocked.item == "poison":
        raise ValueError("this item can never be counted")
    total = await ctx.conn.fetchval(
        """INSERT INTO tallies (shelf_id, item, total) VALUES ($1, $2, $3)
           ON CONFLICT (shelf_id, item) DO UPDATE SET total = tallies.total + $3 RETURNING total""",
        stocked.shelf_id, stocked.item, stocked.count,
    )  # fmt: skip
    await ctx.runtime.store.append(
        stream_id=f"tally-{stocked.shelf_id}", stream_type="tally", case_id=event.case_id, expected_version=None,
        events=[TallyCounted(shelf_id=stocked.shelf_id, item=stocked.item, total=total)],
        context=ctx.command, conn=ctx.conn,
    )  # fmt: skip


LARDER = ServiceDefinition(
    name="larder",
    title="Larder (test)",
    description="Test-only consumer of the pantry's events.",
    port=0,
    domain_topic=None,
    migrations=Path(__file__).parent / "larder_migrations",
    subscriptions=[
        Subscription(
            topic=PANTRY_TOPIC.name,
            consumer="larder.count-stock",
            handle=count_stock,
            event_types=frozenset({ShelfStocked.event_type}),
        )
    ],
)
