"""Feeds over HTTP, for offices without a Kafka client: cursor pages and a server-sent event stream.

Access: only the audience itself reads its feed (the token's organisation must be the audience); an audience
that does not exist is a 404 for everyone (``access.readable_feed``). The feed's cursor is the page cursor and
the SSE event id alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import StreamingResponse

from harbour.errors import RuleViolation
from harbour.service import RuntimeDep, ServiceRuntime
from services.feeds import projections, sse
from services.feeds.access import readable_feed
from services.feeds.domain import MAX_CURSOR, MAX_PAGE, FeedItem, FeedPage, page_of, resume_point
from services.feeds.signal import FeedSignal
from services.feeds.tail import FeedTails, frame

# An idle stream sends a comment this often, so proxies keep it open and clients notice a dead connection;
# the audience's shared read (services/feeds/tail.py) also re-reads the table then, in case a notification was lost.
HEARTBEAT_SECONDS = 15.0
RECONNECT_MILLISECONDS = 2000  # the SSE "retry:" a client waits before reconnecting
STREAM_BATCH = 200  # rows per read while a stream catches up


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Inside the service runtime's lifespan (FastAPI nests a router's): its database exists by now.
    rt: ServiceRuntime = app.state.runtime
    signal = FeedSignal(rt.endpoints.database_url)
    await signal.start()

    async def read_after(audience: str, after: int, limit: int) -> list[FeedItem]:
        async with rt.pool.acquire() as conn:
            return await projections.read_after(conn, audience, after, limit)

    app.state.feed_signal = signal
    app.state.feed_tails = FeedTails(signal, read_after, heartbeat_seconds=HEARTBEAT_SECONDS)
    try:
        yield
    finally:
        await signal.close()  # open streams see ``closed`` and end
        await app.state.feed_tails.close()


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
    tails: FeedTails = request.app.state.feed_tails
    return StreamingResponse(_events(rt, tails, audience, start), media_type=sse.MEDIA_TYPE, headers=sse.HEADERS)


async def _events(rt: ServiceRuntime, tails: FeedTails, audience: str, after: int) -> AsyncIterator[str | bytes]:
    """Every milestone after ``after``, then each new one as it commits; ends when the service stops.

    Behind the end of the feed, the stream reads pages by itself; at the end it follows the audience's shared
    read (``tails``) and goes back to its own pages whenever that drops it (it did not keep up, or the shared
    read stopped). ``last`` is the cursor of the last event sent: each step starts right after it. Heartbeats come
    from the shared read when it has waited ``HEARTBEAT_SECONDS`` for a row (services/feeds/tail.py).
    """
    yield sse.retry(RECONNECT_MILLISECONDS)
    last = after
    while not tails.signal.closed:
        # A connection per read, not per stream: a thousand idle streams hold no database connection.
        async with rt.pool.acquire() as conn:
            items = await projections.read_after(conn, audience, last, STREAM_BATCH)
        for item in items:
            yield frame(item)
            last = item.cursor
        if len(items) == STREAM_BATCH:
            continue  # still catching up
        follower = tails.join(audience, last)
        if follower is None:
            continue  # the shared read is further on than it keeps rows for: read on to it
        try:
            while True:
                if follower.pending:
                    last, text = follower.take()
                    yield text
                elif follower.dropped:
                    break  # everything handed to it is sent: read on by itself from ``last``
                else:
                    follower.ready.clear()  # no await since ``pending`` was found empty: a row handed on sets it
                    await follower.ready.wait()
        finally:
            follower.leave()
