"""Many streams of one audience share one read of its feed (services/feeds/tail.py): each still gets every
milestone once, in cursor order, whether it joins at the end, resumes from far behind, or stops reading for a
while; and the streams of another audience get nothing of it."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from services.feeds import api, tail
from services.feeds.app import DEFINITION
from services.feeds.tail import FeedTails
from tests.integration.test_feeds_helpers import (
    FEEDS_SETTINGS,
    SseEvent,
    SseReader,
    ensure_audience_topics,
    milestones,
    publish,
    reader,
    served,
    wait_stored,
)
from tests.integration.test_feeds_stream import check_continues, milestone_ids, read_until
from tests.support.harness import RunningService, running_service

# Audiences no other suite uses, one per test: a fresh feeds database reads its topics from the start, so a feed
# holds exactly the milestones its test published (cursors from 1).
AUDIENCE = "labour-auditorate-luxembourg"
RESUMING = "labour-auditorate-halle-vilvoorde"
STALLING = "labour-auditorate-leuven"
OURS, OTHER = "prosecution-walloon-brabant", "labour-auditorate-walloon-brabant"
STREAMS = 12


@pytest.fixture(autouse=True)
def no_heartbeat_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    # No heartbeat, so no re-read, within a test: what arrives was handed on at a notification.
    monkeypatch.setattr(api, "HEARTBEAT_SECONDS", 60.0)


@contextlib.asynccontextmanager
async def serving_feeds(
    pg_server_url: str, bootstrap: str
) -> AsyncIterator[tuple[RunningService, str, httpx.AsyncClient]]:
    """The feeds service served over a real socket, and a client to open its streams with."""
    async with (
        running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=bootstrap, settings=FEEDS_SETTINGS) as feeds,
        served(feeds.app) as url,
        httpx.AsyncClient(timeout=30) as http,
    ):  # fmt: skip
        yield feeds, url, http


async def open_streams(http: httpx.AsyncClient, url: str, headers: dict[str, str], n: int, **params: int):
    """``n`` open event streams (the responses' contexts entered; the caller leaves them)."""
    contexts = [http.stream("GET", url, headers=headers, params=params) for _ in range(n)]
    responses = [await c.__aenter__() for c in contexts]
    assert [r.status_code for r in responses] == [200] * n
    return contexts, [SseReader(r) for r in responses]


async def close_streams(contexts) -> None:
    for context in contexts:
        await context.__aexit__(None, None, None)


async def test_many_streams_of_one_audience_each_receive_every_milestone_once_in_order(pg_server_url, running_broker):
    bootstrap = running_broker.bootstrap
    await ensure_audience_topics(bootstrap, [AUDIENCE])
    first, live = milestones(AUDIENCE, 3), milestones(AUDIENCE, 25)
    async with serving_feeds(pg_server_url, bootstrap) as (feeds, url, http):
        await publish(bootstrap, first)
        await wait_stored(feeds, AUDIENCE, first)
        contexts, streams = await open_streams(http, f"{url}/feeds/{AUDIENCE}/stream", reader(feeds, AUDIENCE),
                                               STREAMS, after=0)  # fmt: skip
        try:
            seen = [await read_until(s, first) for s in streams]  # each at the end now, following the shared read
            await publish(bootstrap, live)
            seen = [got + await read_until(s, live) for got, s in zip(seen, streams, strict=True)]
        finally:
            await close_streams(contexts)
        expected = [str(m.milestone_id) for m in first + live]
        for events in seen:
            check_continues(events, 0)  # cursors 1, 2, 3, ...: none skipped, none twice
            assert milestone_ids(events) == expected
        tails: FeedTails = feeds.app.state.feed_tails
        assert tails.overflows == 0


async def test_a_stream_resuming_from_an_old_cursor_gets_the_backlog_then_the_live_ones_without_gap_or_repeat(
    pg_server_url, running_broker, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(api, "STREAM_BATCH", 4)  # the resuming stream's own reads take several pages
    bootstrap = running_broker.bootstrap
    await ensure_audience_topics(bootstrap, [RESUMING])
    backlog, live = milestones(RESUMING, 22), milestones(RESUMING, 10)
    async with serving_feeds(pg_server_url, bootstrap) as (feeds, url, http):
        headers = reader(feeds, RESUMING)
        stream_url = f"{url}/feeds/{RESUMING}/stream"
        await publish(bootstrap, backlog)
        await wait_stored(feeds, RESUMING, backlog)
        # One stream at the end, so the shared read runs ahead of the resuming one.
        contexts, [ahead] = await open_streams(http, stream_url, headers, 1, after=len(backlog))
        try:
            await publish(bootstrap, live[:5])
            await read_until(ahead, live[:5])
            resuming_contexts, [resumed] = await open_streams(
                http, stream_url, headers | {"Last-Event-ID": "2"}, 1, after=0
            )
            contexts += resuming_contexts
            await publish(bootstrap, live[5:])
            events = await read_until(resumed, live)
        finally:
            await close_streams(contexts)
        check_continues(events, 2)
        assert milestone_ids(events) == [str(m.milestone_id) for m in backlog[2:] + live]


def cursors(chunks: list[str | bytes]) -> list[int]:
    text = "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)
    return [int(n) for n in re.findall(r"^id: (\d+)$", text, flags=re.MULTILINE)]


async def test_a_stalled_client_delays_no_other_stream_and_loses_none_of_its_milestones(
    pg_server_url, running_broker, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(tail, "BUFFER", 3)  # the stalled stream's buffer overflows after 3 rows
    bootstrap = running_broker.bootstrap
    await ensure_audience_topics(bootstrap, [STALLING])
    case = milestones(STALLING, 15)
    async with serving_feeds(pg_server_url, bootstrap) as (feeds, url, http):
        tails: FeedTails = feeds.app.state.feed_tails
        # The stalled client is the stream's own generator, pulled by the test: a socket's stall would first be
        # absorbed by kernel and server buffers of a size the test does not know; this one stops exactly.
        stalled: AsyncIterator[str | bytes] = api._events(feeds.runtime, tails, STALLING, 0)
        got = [await anext(stalled)]  # the retry advice
        first = asyncio.create_task(anext(stalled))  # it joins the shared read and waits for the first row
        contexts, streams = await open_streams(http, f"{url}/feeds/{STALLING}/stream", reader(feeds, STALLING),
                                               4, after=0)  # fmt: skip
        try:
            await publish(bootstrap, case[:1])
            async with asyncio.timeout(20):
                got.append(await first)  # and from now on it reads nothing while the others run on
            await publish(bootstrap, case[1:])  # 14 rows: more than its buffer holds
            others = [await read_until(s, case) for s in streams]
            assert tails.overflows >= 1  # it was dropped from the shared read, not waited for
            while len(cursors(got)) < len(case):
                async with asyncio.timeout(20):
                    got.append(await anext(stalled))
        finally:
            await stalled.aclose()
            await close_streams(contexts)
        for events in others:
            check_continues(events, 0)
            assert milestone_ids(events) == [str(m.milestone_id) for m in case]
        assert cursors(got) == list(range(1, len(case) + 1))


async def test_the_streams_of_another_audience_see_nothing_of_this_one(pg_server_url, running_broker):
    bootstrap = running_broker.bootstrap
    await ensure_audience_topics(bootstrap, [OURS, OTHER])
    ours, theirs = milestones(OURS, 10), milestones(OTHER, 1)
    async with serving_feeds(pg_server_url, bootstrap) as (feeds, url, http):
        contexts, ours_streams = await open_streams(http, f"{url}/feeds/{OURS}/stream", reader(feeds, OURS),
                                                    3, after=0)  # fmt: skip
        more, theirs_streams = await open_streams(http, f"{url}/feeds/{OTHER}/stream", reader(feeds, OTHER), 3,
                                                  after=0)  # fmt: skip
        contexts += more
        try:
            await publish(bootstrap, ours)
            for stream in ours_streams:
                await read_until(stream, ours)  # stored, and handed on to this audience's streams
            await publish(bootstrap, theirs)  # then one of theirs: everything before it on their streams is shown
            seen: list[list[SseEvent]] = [await read_until(s, theirs) for s in theirs_streams]
        finally:
            await close_streams(contexts)
        ours_ids = {str(m.milestone_id) for m in ours}
        for events in seen:
            assert [i for i in milestone_ids(events) if i in ours_ids] == []
            assert str(theirs[0].milestone_id) in milestone_ids(events)
