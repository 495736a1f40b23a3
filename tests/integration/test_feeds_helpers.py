"""What the feeds tests share: real milestones on real audience topics, paging, serving over a real socket,
and reading server-sent events. (No tests here; it sits beside them because the feeds tests own only
``tests/integration/test_feeds_*``; its natural home is ``tests/support/feeds.py``.)
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from harbour.kafka.topics import ensure_topics, topic_table
from harbour_tools.infra import free_port
from schemas.milestones import Milestone, MilestoneType, milestone_topic
from tests.support.harness import RunningService, fast_settings
from tests.support.waiting import wait_until

# The embedded broker forms a group in half a session timeout, and re-forms one after a member left in about
# two and a half: short group timeouts keep each feeds start (and restart) at a second or a few.
FEEDS_SETTINGS = fast_settings(consumer_session_timeout_ms=2000, consumer_heartbeat_ms=200,
                               consumer_rebalance_timeout_ms=500)  # fmt: skip


def milestones(audience: str, n: int, *, case_ref: str | None = None, start: int = 0) -> list[Milestone]:
    """``n`` valid milestones of one case (one key, so one partition: Kafka keeps them in this order)."""
    ref = case_ref or f"ref-{uuid.uuid4().hex[:12]}"
    return [
        Milestone(milestone_id=uuid.uuid4(), milestone=MilestoneType.HEARING_SCHEDULED, audience=audience,
                  case_ref=ref, occurred_on=date(2025, 3, 1 + (start + i) % 28),
                  recorded_at=datetime(2025, 3, 1, 9, 0, tzinfo=UTC), source="legal",
                  data={"sequence": start + i, "stay_valid_on_hearing_day": True})
        for i in range(n)
    ]  # fmt: skip


async def ensure_audience_topics(bootstrap: str, audiences: Iterable[str]) -> None:
    """The audience topics and their dead-letter topics, as the deploy init job creates them."""
    names = {milestone_topic(a) for a in audiences}
    names |= {f"{n}.dlq" for n in names}
    await ensure_topics(bootstrap, [t for t in topic_table() if t.name in names])


async def publish(bootstrap: str, items: Iterable[Milestone | tuple[str, bytes]]) -> None:
    """Put milestones on their audience topics as a relay does (value: the Milestone JSON, key: case_ref).
    A ``(topic, raw bytes)`` pair puts something that is not a valid milestone there."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for item in items:
            if isinstance(item, Milestone):
                await producer.send_and_wait(milestone_topic(item.audience), item.model_dump_json().encode(),
                                             key=item.case_ref.encode(),
                                             headers=[("milestone", item.milestone.value.encode())])  # fmt: skip
            else:
                topic, value = item
                await producer.send_and_wait(topic, value, key=b"poison")
    finally:
        await producer.stop()


def reader(feeds: RunningService, audience: str) -> dict[str, str]:
    return feeds.token(audience, "caseworker" if audience.startswith("centre-") else "officer")


async def all_pages(feeds: RunningService, audience: str, *, after: int = 0, limit: int = 500) -> list[dict[str, Any]]:
    """Every item after ``after``, page by page, following ``next``."""
    items: list[dict[str, Any]] = []
    while True:
        response = await feeds.client.get(f"/feeds/{audience}/milestones", params={"after": after, "limit": limit},
                                          headers=reader(feeds, audience))  # fmt: skip
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if not page["more"]:
            return items
        after = page["next"]


async def wait_stored(feeds: RunningService, audience: str, expected: Iterable[Milestone], timeout: float = 20) -> None:
    wanted = {str(m.milestone_id) for m in expected}

    async def stored() -> bool:
        return wanted <= {i["milestone"]["milestone_id"] for i in await all_pages(feeds, audience)}

    await wait_until(stored, timeout=timeout)


def ids(items: Iterable[dict[str, Any]]) -> list[str]:
    return [i["milestone"]["milestone_id"] for i in items]


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app on a real socket: httpx's in-process transport buffers a whole response, so an endless
    event stream needs a server. The harness already ran the app's lifespan, so uvicorn must not."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning",
                            timeout_graceful_shutdown=2)  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started

    try:
        await wait_until(started, timeout=10)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class SseEvent:
    id: str | None
    event: str | None
    data: str


@dataclass
class SseReader:
    """Parses an event stream as a browser's EventSource does (fields, multi-line data, comments)."""

    response: httpx.Response
    comments: int = 0

    def __post_init__(self) -> None:
        self._lines = self.response.aiter_lines()

    async def next_item(self) -> SseEvent | str:
        """The next event, or the text of the next comment (a heartbeat)."""
        fields: dict[str, str] = {}
        data: list[str] = []
        async for line in self._lines:
            if line == "":
                if data:
                    return SseEvent(fields.get("id"), fields.get("event"), "\n".join(data))
                fields = {}  # a block without data (the "retry:" advice) dispatches nothing
                continue
            if line.startswith(":"):
                return line[1:].strip()
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            else:
                fields[name] = value
        raise EOFError("the stream ended")

    async def next_event(self) -> SseEvent:
        while isinstance(item := await self.next_item(), str):
            self.comments += 1
        return item

    async def events(self, n: int, timeout: float = 20) -> list[SseEvent]:
        async with asyncio.timeout(timeout):
            return [await self.next_event() for _ in range(n)]
