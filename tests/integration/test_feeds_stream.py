"""The server-sent event stream, read over a real socket: live pushes, heartbeats, and resumption with
``Last-Event-ID`` that loses nothing and repeats nothing, across a reconnect and across a feeds restart."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable

import httpx
import pytest

from harbour.db import drop_database
from schemas.milestones import Milestone
from services.feeds import api
from services.feeds.app import DEFINITION
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
from tests.support.harness import RunningService, running_service

AUDIENCE = "labour-auditorate-eupen"  # hardly used by the other suites: the stream holds our milestones only


async def read_until(stream: SseReader, wanted: Iterable[Milestone], timeout: float = 20) -> list[SseEvent]:
    """Events up to and including the last of ``wanted`` (others' milestones in between are kept too)."""
    missing = {str(m.milestone_id) for m in wanted}
    events: list[SseEvent] = []
    while missing:
        [event] = await stream.events(1, timeout=timeout)
        events.append(event)
        missing.discard(json.loads(event.data)["milestone"]["milestone_id"])
    return events


def milestone_ids(events: Iterable[SseEvent]) -> list[str]:
    return [json.loads(e.data)["milestone"]["milestone_id"] for e in events]


def check_continues(events: list[SseEvent], after: int) -> None:
    """Every event is a milestone whose id is the next cursor: nothing skipped, nothing repeated."""
    assert {e.event for e in events} == {"milestone"}
    assert [int(e.id or 0) for e in events] == list(range(after + 1, after + 1 + len(events)))
    assert [json.loads(e.data)["cursor"] for e in events] == [int(e.id or 0) for e in events]


async def test_a_stream_resumed_with_last_event_id_gets_exactly_the_rest_across_a_reconnect_and_a_restart(
    pg_server_url, running_broker, monkeypatch: pytest.MonkeyPatch
):
    # No heartbeat (and so no re-read) for a minute: a milestone that arrives within seconds was pushed.
    monkeypatch.setattr(api, "HEARTBEAT_SECONDS", 60.0)
    bootstrap = running_broker.bootstrap
    await ensure_audience_topics(bootstrap, [AUDIENCE])
    database = f"harbour_test_feeds_{uuid.uuid4().hex[:8]}"
    case = milestones(AUDIENCE, 9)
    first, live, while_down = case[:4], case[4:6], case[6:]

    def connect(http: httpx.AsyncClient, feeds: RunningService, url: str, last_id: str | None, **params: int):
        headers = reader(feeds, AUDIENCE) | ({"Last-Event-ID": last_id} if last_id else {})
        return http.stream("GET", f"{url}/feeds/{AUDIENCE}/stream", headers=headers, params=params)

    try:
        async with (
            running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=bootstrap, database=database,
                            keep_database=True, settings=FEEDS_SETTINGS) as feeds,
            served(feeds.app) as url,
            httpx.AsyncClient(timeout=20) as http,
        ):  # fmt: skip
            await publish(bootstrap, first)
            await wait_stored(feeds, AUDIENCE, first)
            async with connect(http, feeds, url, None, after=0) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                stream = SseReader(response)
                seen = await read_until(stream, first[:2])
            check_continues(seen, 0)
            last_id = seen[-1].id
            assert last_id is not None

            # Reconnect as a browser does: the original URL (after=0) and the newer Last-Event-ID, which wins.
            async with connect(http, feeds, url, last_id, after=0) as response:
                stream = SseReader(response)
                resumed = await read_until(stream, first[2:])
                await publish(bootstrap, live)  # pushed as they are stored (LISTEN/NOTIFY), on the open stream
                resumed += await read_until(stream, live, timeout=15)
            check_continues(resumed, int(last_id))
            seen += resumed
            last_id = seen[-1].id
        await publish(bootstrap, while_down)  # feeds is down: nothing is lost, the group resumes them
        monkeypatch.setattr(api, "HEARTBEAT_SECONDS", 0.3)  # an idle stream shows its heartbeat within the test

        async with (
            running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=bootstrap, database=database,
                            settings=FEEDS_SETTINGS) as feeds,
            served(feeds.app) as url,
            httpx.AsyncClient(timeout=20) as http,
        ):  # fmt: skip
            async with connect(http, feeds, url, last_id) as response:
                stream = SseReader(response)
                rest = await read_until(stream, while_down)
                async with asyncio.timeout(5):  # idle now: heartbeats keep proxies from closing the connection
                    assert await stream.next_item() == "heartbeat"
            check_continues(rest, int(last_id or 0))
            seen += rest
            # Everything once, in publication order (one case: one partition), over three connections.
            assert [m for m in milestone_ids(seen) if m in {str(c.milestone_id) for c in case}] == [
                str(c.milestone_id) for c in case
            ]
            assert len(set(milestone_ids(seen))) == len(seen)
            # The stream and the pages agree on every cursor.
            page = (await feeds.client.get(f"/feeds/{AUDIENCE}/milestones", headers=reader(feeds, AUDIENCE))).json()
            assert [(i["cursor"], i["milestone"]["milestone_id"]) for i in page["items"]] == [
                (int(e.id or 0), m) for e, m in zip(seen, milestone_ids(seen), strict=True)
            ]
    finally:
        await drop_database(pg_server_url, database)


async def test_a_stream_refuses_another_organisation(pg_server_url, running_broker):
    async with (
        running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                        background=False, settings=FEEDS_SETTINGS) as feeds,
        served(feeds.app) as url,
        httpx.AsyncClient(timeout=10) as http,
    ):  # fmt: skip
        response = await http.get(f"{url}/feeds/{AUDIENCE}/stream", headers=feeds.token("centre-payoke", "manager"))
        assert response.status_code == 403
        response = await http.get(f"{url}/feeds/{AUDIENCE}/stream")
        assert response.status_code == 401
