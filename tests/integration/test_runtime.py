"""The shared runtime end to end: HTTP → store → relay → Kafka → inbox consumer → its own store."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from harbour import telemetry
from harbour.store import Actor, CommandContext, Position
from tests.support.harness import fast_settings, running_service
from tests.support.kafka import headers_of, read_topic
from tests.support.pantry import ShelfEmptied, ShelfStocked
from tests.support.pantry_service import LARDER, PANTRY, PANTRY_TOPIC
from tests.support.waiting import wait_until

CTX = CommandContext(actor=Actor("centre-payoke", "caseworker", "t"))
SPANS = InMemorySpanExporter()
telemetry.EXTRA_SPAN_PROCESSORS.append(SimpleSpanProcessor(SPANS))


async def append_stock(runtime, shelf: str, n: int, item: str = "rice") -> None:
    for i in range(n):
        await runtime.store.append(stream_id=f"shelf-{shelf}", stream_type="shelf", case_id=f"case-{shelf}",
                                   expected_version=None, events=[ShelfStocked(shelf_id=shelf, item=item, count=1,
                                   unit=f"u{i}")], context=CTX)  # fmt: skip


async def tally(larder, shelf: str, item: str = "rice") -> int:
    async with larder.runtime.pool.acquire() as conn:
        return await conn.fetchval("SELECT total FROM tallies WHERE shelf_id = $1 AND item = $2", shelf, item) or 0


async def test_the_relay_publishes_each_case_in_order_and_resumes_from_its_checkpoint(pg_server_url, running_broker):
    shelves = [f"ord{uuid.uuid4().hex[:6]}-{i}" for i in range(3)]
    # Pages of 4: the relay reads each next page while it sends a full one, and must still send each event once.
    async with running_service(PANTRY, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               background=False, keep_database=True, database=f"harbour_test_pantry_{shelves[0]}",
                               settings=fast_settings(relay_batch_size=4)) as first:  # fmt: skip
        for shelf in shelves:
            await append_stock(first.runtime, shelf, 5)
        await first.runtime.relay.drain()
        checkpoint = await first.runtime.relay.checkpoint()
        assert checkpoint == await first.runtime.store.head()
    # A restarted relay continues after its checkpoint: what it publishes next is only what is new.
    async with running_service(PANTRY, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               background=False, database=f"harbour_test_pantry_{shelves[0]}") as second:  # fmt: skip
        assert await second.runtime.relay.checkpoint() == checkpoint
        assert await second.runtime.relay.relay_once() == 0
        await append_stock(second.runtime, shelves[0], 2)
        await wait_until(lambda: _equals(readable(second.runtime), 17), timeout=20)
        assert await _first_page(second.runtime.relay) == 2
    records = [r for r in await read_topic(running_broker.bootstrap, PANTRY_TOPIC.name)
               if headers_of(r)["case_id"] in {f"case-{s}" for s in shelves}]  # fmt: skip
    assert len(records) == 17
    by_case: dict[str, list[tuple[int, int]]] = {}
    for record in records:
        h = headers_of(record)
        assert record.key == h["case_id"].encode()
        by_case.setdefault(h["case_id"], []).append((record.partition, int(h["stream_version"])))
    for case, seen in by_case.items():
        assert len({p for p, _ in seen}) == 1, "one case, one partition"
        versions = [v for _, v in sorted(seen)]
        assert versions == sorted(versions) == list(range(1, len(versions) + 1)), case


async def test_a_thousand_events_stored_while_the_broker_is_down_all_arrive_and_count_once(pg_server_url, broker):
    """The broker (memory only) loses everything, offsets included: the consumer re-reads from the start and
    the inbox keeps every effect single."""
    if not broker.is_running:
        broker.start()
    shelf = f"outage{uuid.uuid4().hex[:6]}"
    # Small pages, so that the catch-up runs through many full batches, each read ahead while the previous one
    # is sent, and batches fail with a page read ahead while the broker is away.
    async with (
        running_service(
            PANTRY, pg_server_url=pg_server_url, bootstrap=broker.bootstrap, settings=fast_settings(relay_batch_size=64)
        ) as pantry,
        running_service(LARDER, pg_server_url=pg_server_url, bootstrap=broker.bootstrap) as larder,
    ):
        await append_stock(pantry.runtime, shelf, 10)
        await wait_until(lambda: _equals(tally(larder, shelf), 10), timeout=40)
        broker.kill()  # down at once (a graceful stop would block this loop ~5 s for the connected clients)
        await append_stock(pantry.runtime, shelf, 1000)  # commands are still accepted and stored
        assert await pantry.runtime.store.count() >= 1010
        # The stalled relay says how far behind it is.
        await wait_until(lambda: _at_least(relay_lag("pantry"), 1000), timeout=20)
        broker.start()
        await wait_until(lambda: _equals(tally(larder, shelf), 1010), timeout=120)
        await asyncio.sleep(2)  # anything applied twice would show up now
        async with larder.runtime.pool.acquire() as conn:
            # One TallyCounted per applied effect: a second application would have appended a second one.
            counted = await conn.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", f"tally-{shelf}")
        assert (await tally(larder, shelf), counted) == (1010, 1010)


async def test_a_batch_that_fails_drops_its_read_ahead_page_and_is_sent_again_from_the_checkpoint(
    pg_server_url, broker
):
    if not broker.is_running:
        broker.start()
    shelf = f"ahead{uuid.uuid4().hex[:6]}"
    async with running_service(PANTRY, pg_server_url=pg_server_url, bootstrap=broker.bootstrap, background=False,
                               settings=fast_settings(relay_batch_size=4)) as pantry:  # fmt: skip
        relay = pantry.runtime.relay
        await append_stock(pantry.runtime, shelf, 4)
        await wait_until(lambda: _equals(readable(pantry.runtime), 4), timeout=20)
        assert await _first_page(relay) == 4  # a full page: the next was read ahead, and was empty then
        await append_stock(pantry.runtime, shelf, 8)
        # Readable once every older transaction on the server has ended (see EventStore.read_all).
        await wait_until(lambda: _equals(readable(pantry.runtime), 12), timeout=20)
        broker.kill()
        with pytest.raises(Exception):  # noqa: B017 - whichever error the client raises for a broker that is gone
            await _first_page(relay)  # a full page: the next one is read ahead, then the batch fails
        broker.start()  # empty: what was published before is gone with it
        await relay.drain()
    records = [r for r in await read_topic(broker.bootstrap, PANTRY_TOPIC.name)
               if headers_of(r)["case_id"] == f"case-{shelf}"]  # fmt: skip
    # Each event once, in order: 5-12 from the checkpoint (the read-ahead page was dropped, not sent), and 1-4,
    # which the broker lost with its restart, published again by the relay's rebuild (harbour.kafka.rebuild).
    assert [int(headers_of(r)["stream_version"]) for r in records] == list(range(1, 13))


async def test_events_held_back_by_an_older_transaction_are_published_when_it_ends_without_waiting_to_poll(
    pg_server_url, running_broker
):
    # Polling so slow that only the relay's own wake-ups can publish within the test's patience.
    settings = fast_settings(relay_poll_seconds=60.0)
    async with running_service(PANTRY, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               settings=settings) as pantry:  # fmt: skip
        relay = pantry.runtime.relay
        await wait_until(lambda: _is(relay.is_leader), timeout=20)
        # In the pantry's own database: one of another database no longer holds readers back (migration 0014).
        older = await asyncpg.connect(pantry.runtime.endpoints.database_url)
        try:
            # A transaction that may still write the store and ends without notifying anyone (not an append).
            async with older.transaction():
                await older.fetchval("SELECT pg_current_xact_id()")
                await append_stock(pantry.runtime, "held", 3)  # commits and notifies: the relay wakes, reads nothing
                await asyncio.sleep(0.5)
                assert relay.published == 0, "published past a transaction that was still running"
        finally:
            await older.close()
        await wait_until(lambda: _is(relay.published == 3), timeout=5)


async def _first_page(relay) -> int:
    """``relay_once`` until it has a page, and what that page covered. A page can read empty for a moment after an
    earlier read found it: harbour_read_bound (migration 0014) holds readers back by a transaction of another
    database that ended between the statement's snapshot and its look at pg_stat_activity (it cannot tell then
    that the transaction was not this database's). CI, 2026-12-03: a relay_once meant to fail had nothing to send."""
    for _ in range(500):
        if covered := await relay.relay_once():
            return covered
        await asyncio.sleep(0.01)
    return 0


async def _is(value: bool) -> bool:
    return value


async def relay_lag(service: str) -> float:
    return REGISTRY.get_sample_value("harbour_relay_lag_events", {"service": service}) or 0.0


async def _at_least(value_coro, expected: float) -> bool:
    return await value_coro >= expected


async def readable(runtime) -> int:
    return len(await runtime.store.read_all(Position(), limit=1000))


async def _equals(value_coro, expected: int) -> bool:
    return await value_coro == expected


async def test_a_poisoned_message_goes_to_the_dead_letter_topic_and_the_next_one_is_processed(
    pg_server_url, running_broker
):
    shelf = f"poison{uuid.uuid4().hex[:6]}"
    async with (
        running_service(PANTRY, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap) as pantry,
        running_service(LARDER, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap) as larder,
    ):
        # A message that is not even an event (no envelope), then one whose handler always fails, then a good one.
        producer = AIOKafkaProducer(bootstrap_servers=running_broker.bootstrap)
        await producer.start()
        await producer.send_and_wait(PANTRY_TOPIC.name, b"{not json", key=f"case-{shelf}".encode(),
                                     headers=[("event_type", b"test.ShelfStocked")])  # fmt: skip
        await producer.stop()
        await append_stock(pantry.runtime, shelf, 1, item="poison")
        await append_stock(pantry.runtime, shelf, 3)
        await wait_until(lambda: _equals(tally(larder, shelf), 3), timeout=40)
        dlq = PANTRY_TOPIC.name + ".dlq"

        async def two_dead_letters() -> bool:
            mine = [r for r in await read_topic(running_broker.bootstrap, dlq) if r.key == f"case-{shelf}".encode()]
            return len(mine) == 2

        await wait_until(two_dead_letters, timeout=20)
        records = [r for r in await read_topic(running_broker.bootstrap, dlq) if r.key == f"case-{shelf}".encode()]
        reasons = sorted(headers_of(r)["dlq.error_type"] for r in records)
        assert reasons == ["JSONDecodeError", "ValueError"]
        for record in records:
            h = headers_of(record)
            assert h["dlq.original_topic"] == PANTRY_TOPIC.name
            assert int(h["dlq.original_offset"]) >= 0 and "dlq.original_partition" in h
            assert h["dlq.consumer"] == "larder.count-stock"
        assert larder.runtime.consumers[0].dead_lettered == 2


async def test_one_trace_runs_from_the_http_request_through_the_relay_to_the_consumer_and_its_append(
    pg_server_url, running_broker
):
    shelf = f"trace{uuid.uuid4().hex[:6]}"
    async with (
        running_service(PANTRY, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap) as pantry,
        running_service(LARDER, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap) as larder,
    ):
        SPANS.clear()
        response = await pantry.client.post(f"/shelves/{shelf}/stock", json={"item": "rice", "count": 2},
                                            headers=pantry.token("centre-payoke", "caseworker"))  # fmt: skip
        assert response.status_code == 200, response.text
        await wait_until(lambda: _equals(tally(larder, shelf), 2), timeout=40)
        [stored] = await pantry.runtime.store.read_stream(f"shelf-{shelf}")
        trace_id = stored.traceparent.split("-")[1]
        [counted] = await larder.runtime.store.read_stream(f"tally-{shelf}")
        assert counted.traceparent.split("-")[1] == trace_id, "the consumer's append continues the request's trace"
        assert counted.causation_id == stored.event_id
        assert counted.correlation_id == stored.correlation_id
        telemetry.shutdown_providers()
        spans = [s for s in SPANS.get_finished_spans() if format(s.context.trace_id, "032x") == trace_id]
        services = {s.resource.attributes["service.name"] for s in spans}
        # (In one test process the driver's instrumentation reports through the first service's provider,
        # so database spans may name another service; in production each service is its own process.)
        assert {"pantry", "larder"} <= services
        kinds = {s.kind.name for s in spans}
        assert {"SERVER", "PRODUCER", "CONSUMER"} <= kinds
        # No span per ASGI message: the server span tells the request's story.
        assert not [s.name for s in spans if s.name.endswith(("http send", "http receive"))]


async def test_a_record_its_consumer_passes_over_unread_leaves_no_span_and_one_it_reads_has_its_own(
    pg_server_url, running_broker
):
    """The larder reads the pantry's ShelfStocked only: a span for each record it drops unread was the cost of span
    creation and export for nothing (harbour.telemetry.kafka_middleware)."""
    shelf = f"skip{uuid.uuid4().hex[:6]}"
    async with (
        running_service(PANTRY, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap) as pantry,
        running_service(LARDER, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap) as larder,
    ):
        SPANS.clear()
        await pantry.runtime.store.append(stream_id=f"shelf-{shelf}", stream_type="shelf", case_id=f"case-{shelf}",
                                          expected_version=None, events=[ShelfEmptied(shelf_id=shelf)],
                                          context=CTX)  # fmt: skip
        await append_stock(pantry.runtime, shelf, 1)
        await wait_until(lambda: _equals(tally(larder, shelf), 1), timeout=40)
        telemetry.shutdown_providers()
        ours = {(r.partition, r.offset): headers_of(r)["event_type"]
                for r in await read_topic(running_broker.bootstrap, PANTRY_TOPIC.name)
                if headers_of(r).get("case_id") == f"case-{shelf}"}  # fmt: skip
        assert sorted(ours.values()) == [ShelfEmptied.event_type, ShelfStocked.event_type]
        # Appended outside any request, so neither record carries a trace: each record the larder reads gets a
        # "create" span (the trace's start) and a "process" span; before, the ShelfEmptied got both too.
        processed = [ours.get((a.get("messaging.kafka.destination.partition"), a.get("messaging.kafka.message.offset")))
                     for s in SPANS.get_finished_spans() if s.kind.name == "CONSUMER" and s.name.endswith(" process")
                     and s.resource.attributes["service.name"] == "larder" for a in [s.attributes or {}]]  # fmt: skip
        assert [t for t in processed if t is not None] == [ShelfStocked.event_type]


@pytest.mark.parametrize(
    ("headers", "body", "status", "field"),
    [
        (None, {"item": "rice", "count": 1}, 401, None),
        (("police-federal", "officer"), {"item": "rice", "count": 1}, 403, None),
        (("centre-payoke", "caseworker"), {"item": "rice", "count": "many"}, 422, "count"),
        (("centre-payoke", "caseworker"), {"item": "rice", "count": 0}, 422, "count"),
        (("centre-payoke", "caseworker"), {"item": "rice", "count": 1, "colour": "red"}, 422, "colour"),
        (("centre-payoke", "caseworker"), {"item": "rice", "count": 1, "expected_version": 0}, 409, None),
    ],
)
async def test_errors_are_problem_documents_naming_the_field_at_fault(
    pg_server_url, running_broker, headers, body, status, field
):
    async with running_service(PANTRY, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               background=False) as pantry:  # fmt: skip
        auth = pantry.token(*headers) if headers else {}
        await pantry.client.post("/shelves/s1/stock", json={"item": "rice", "count": 1},
                                 headers=pantry.token("centre-payoke", "caseworker"))  # fmt: skip
        response = await pantry.client.post("/shelves/s1/stock", json=body, headers=auth)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["status"] == status and problem["type"].startswith("https://") and problem["title"]
        if field:
            assert problem["field"] == field
        # The command changed nothing.
        assert len(await pantry.runtime.store.read_stream("shelf-s1")) == 1


async def test_a_follower_position_is_the_store_head_after_draining(pg_server_url, running_broker):
    async with running_service(PANTRY, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               background=False) as pantry:  # fmt: skip
        assert await pantry.runtime.store.head() == Position()
        await append_stock(pantry.runtime, "h", 3)
        # Committed is not yet readable while any older transaction on the server runs (tests in parallel); the
        # head is the last *readable* position, so both are read once the three are.
        await wait_until(lambda: _equals(readable(pantry.runtime), 3))
        head = await pantry.runtime.store.head()
        events = await pantry.runtime.store.read_all(Position())
        assert Position(events[-1].tx_id, events[-1].global_position) == head
        assert json.loads(events[0].value())["shelf_id"] == "h"
