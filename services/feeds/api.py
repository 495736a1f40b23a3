"""Feeds over HTTP, for offices without a Kafka client: cursor pages and a server-sent event stream.

Access: only the audience itself reads its feed (the token's organisation must be the audience); an audience
that does not exist is a 404 for everyone (``access.readable_feed``). The feed's cursor is the page cursor and
the SSE event id alike.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import StreamingResponse

from harbour.errors import RuleViolation
from harbour.service import RuntimeDep, ServiceRuntime
from services.feeds import projections, sse
from services.feeds.access import readable_feed
from services.feeds.domain import MAX_CURSOR, MAX_PAGE, FeedPage, page_of, resume_point
from services.feeds.signal import FeedSignal

# An idle stream sends a comment this often, so proxies keep it open and clients notice a dead connection;
# the stream also re-reads the table then, in case a notification was lost.
HEARTBEAT_SECONDS = 15.0
RECONNECT_MILLISECONDS = 2000  # the SSE "retry:" a client waits before reconnecting
STREAM_BATCH = 200  # rows per read while a stream catches up


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Inside the service runtime's lifespan (FastAPI nests a router's): its database exists by now.
    signal = FeedSignal(app.state.runtime.endpoints.database_url)
    await signal.start()
    app.state.feed_signal = signal
    try:
        yield
    finally:
        await signal.close()


router = APIRouter(prefix="/feeds", tags=["feeds"], lifespan=lifespan)


@router.get("/{audience}/milestones", response_model=FeedPage)
async def milestones(
    audience: str = Depends(readable_feed),
    after: int = Query(0, ge=0, le=MAX_CURSOR, description="the last cursor you have; 0 for the beginning"),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    rt: ServiceRuntime = RuntimeDep,
) -> FeedPage:
    async with rt.pool.acquire() as conn:
        items = await projections.read_after(conn, audience, after, limit + 1)
    return page_of(audience, after, items, limit)


@router.get(
    "/{audience}/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {sse.MEDIA_TYPE: {}}, "description": "server-sent events, one per milestone"}},
)
async def stream(
    request: Request,
    audience: str = Depends(readable_feed),
    after: int | None = Query(None, ge=0, le=MAX_CURSOR, description="start after this cursor"),
    last_event_id: str | None = Header(None, alias="Last-Event-ID", description="resume after this cursor"),
    rt: ServiceRuntime = RuntimeDep,
) -> StreamingResponse:
    try:
        start = resume_point(after, last_event_id)
    except ValueError as error:
        raise RuleViolation(str(error), field="Last-Event-ID") from None
    signal: FeedSignal = request.app.state.feed_signal
    return StreamingResponse(_events(rt, signal, audience, start), media_type=sse.MEDIA_TYPE, headers=sse.HEADERS)


async def _events(rt: ServiceRuntime, signal: FeedSignal, audience: str, after: int) -> AsyncIterator[str]:
    """Every milestone after ``after``, then each new one as it commits; ends when the service stops."""
    yield sse.retry(RECONNECT_MILLISECONDS)
    last = after
    while not signal.closed:
        wake = signal.waiter(audience)
        # A connection per read, not per stream: a thousand idle streams hold no database connection.
        async with rt.pool.acquire() as conn:
            items = await projections.read_after(conn, audience, last, STREAM_BATCH)
        for item in items:
            yield sse.event(item.model_dump_json(), id=str(item.cursor), event="milestone")
            last = item.cursor
        if len(items) == STREAM_BATCH:
            continue  # still catching up
        try:
            async with asyncio.timeout(HEARTBEAT_SECONDS):
                await wake.wait()
        except TimeoutError:
            yield sse.comment("heartbeat")
