"""Replay from a large store: a projection rebuilt and the domain topic published again from N stored events.

    python -m bench.replay [--events 1000000] [--raw-sample 100000] [--skip-republish] [--unbatched]

A fresh database (migrated like a service's, dropped at the end) is filled with ``--events`` stored events
(server-side multi-row inserts, not the append path), then:

1. **baseline**: a server-side cursor reads every row (the columns the rebuild reads) and does nothing;
2. **rebuild, decode only**: ``harbour_tools.ops.rebuild`` (what ``harbour ops rebuild`` runs) with a projection
   that decodes each event to its pydantic class and writes nothing: the runtime's own cost per event;
3. **rebuild**: the same with a projection that writes for every event (an upsert of the stream's totals),
   the shape of the services' projections (one statement per event handled); with ``--unbatched`` also as
   it ran before ``DeferredWrites``, a round trip per statement;
4. **republish**: the domain relay's rebuild after a loss (``OutboxRelay`` put back to the start of the store
   as when the broker lost what it had acknowledged, then drained), against a raw aiokafka producer sending
   ``--raw-sample`` of the same messages.

A private Tansu broker is started unless HARBOUR_KAFKA_BOOTSTRAP names one. Progress goes to stderr; the last
line on stdout is one JSON object (see bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import (
    BenchItemCounted,
    RssSampler,
    bench_broker,
    emit,
    fill_store,
    fresh_database,
    progress,
    rss_mb,
    server_url,
)
from harbour.db import Connection, create_pool
from harbour.kafka.producer import make_producer
from harbour.kafka.rebuild import Loss
from harbour.kafka.relay import OutboxRelay
from harbour.kafka.topics import TopicSpec, ensure_topics
from harbour.projection import Projection
from harbour.settings import HarbourSettings
from harbour.store import EventStore, Position, RecordedEvent
from harbour.store.eventstore import _COLUMNS, WireRow, wire_header_names
from harbour_tools import ops

TARGET_REBUILD = 50_000  # events/s
PARTITIONS = 4  # as bench.relay: the domain topics' partition count in deploy/
MEMORY_MARK = 100_000  # RSS is noted when this many events are done, and again at the end

TOTALS_DDL = """CREATE TABLE bench_item_totals (
    stream_id text PRIMARY KEY, item text NOT NULL, total bigint NOT NULL, last_version integer NOT NULL)"""


class DecodeOnly(Projection):
    """Decodes every event to its class (as the services' handlers do) and writes nothing."""

    name = "bench.decode_only"

    async def on_ItemCounted(self, conn: Connection, event: RecordedEvent) -> None:
        event.event  # noqa: B018 - the decode is the work measured


class ItemTotals(Projection):
    """One row per stream: its item, the running total and the last version; one upsert per event."""

    name = "bench.item_totals"
    tables = ("bench_item_totals",)

    async def on_ItemCounted(self, conn: Connection, event: RecordedEvent) -> None:
        e: BenchItemCounted = event.event  # type: ignore[assignment]
        await conn.execute(
            """INSERT INTO bench_item_totals AS t (stream_id, item, total, last_version) VALUES ($1, $2, $3, $4)
               ON CONFLICT (stream_id) DO UPDATE SET total = t.total + EXCLUDED.total,
                                                     last_version = EXCLUDED.last_version""",
            event.stream_id, e.item, e.count, event.stream_version,
        )  # fmt: skip


class OneTripPerStatement(Projection):
    """ItemTotals as ``harbour rebuild`` ran it before DeferredWrites: each statement sent on its own."""

    name = "bench.item_totals_unbatched"
    tables = ItemTotals.tables

    def __init__(self) -> None:
        self.inner = ItemTotals()

    async def handle(self, conn: Connection, event: RecordedEvent) -> None:
        await self.inner.handle(conn, event)
        await conn.flush()  # type: ignore[union-attr]  # the rebuild's DeferredWrites: send it now


class Memory:
    """RSS sampled while a phase runs: the peak, and what it was once MEMORY_MARK events were done."""

    def __init__(self) -> None:
        self.sampler = RssSampler()
        self.at_mark: float | None = None
        self.start = rss_mb()

    def progress(self, total: int, label: str) -> Callable[[int, int], None]:
        step = max(1, total // 10)
        last = [0]

        def update(done: int, _total: int) -> None:
            if self.at_mark is None and done >= min(MEMORY_MARK, total):
                self.at_mark = rss_mb()
            if done - last[0] >= step or done == total:
                last[0] = done
                progress(f"{label}: {done:,} of {total:,} (RSS {rss_mb():.0f} MB)")

        return update

    def figures(self, peak: float) -> dict[str, float]:
        return {"rss_start_mb": round(self.start, 1), "rss_at_100k_mb": round(self.at_mark or 0.0, 1),
                "rss_peak_mb": round(peak, 1)}  # fmt: skip


async def baseline(url: str) -> float:
    """A server-side cursor over every row in commit order, the rows read and dropped."""
    conn = await asyncpg.connect(url)
    try:
        start, n = time.perf_counter(), 0
        async with conn.transaction(isolation="repeatable_read"):
            async for _ in conn.cursor(f"SELECT {_COLUMNS} FROM events ORDER BY tx_id, global_position",
                                       prefetch=5000):  # fmt: skip
                n += 1
        return n / (time.perf_counter() - start)
    finally:
        await conn.close()


async def rebuild(url: str, projection: Projection, events: int, profile: bool) -> dict[str, Any]:
    pool = await create_pool(url, min_size=1, max_size=1)
    memory = Memory()
    profiler = cProfile.Profile() if profile else None
    try:
        memory.sampler.start()
        start = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        count = await ops.rebuild(pool, projection, progress=memory.progress(events, projection.name))
        if profiler is not None:
            profiler.disable()
        elapsed = time.perf_counter() - start
        peak = await memory.sampler.stop()
    finally:
        await pool.close()
    if count != events:
        raise RuntimeError(f"the rebuild replayed {count} events, {events} are stored")
    if profiler is not None:
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(20)
    return {"events_per_s": round(count / elapsed, 1), "seconds": round(elapsed, 2), **memory.figures(peak)}


async def republish(
    url: str, bootstrap: str, settings: HarbourSettings, events: int, raw_sample: int
) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    domain = TopicSpec(f"bench.replay.{run_id}", PARTITIONS, "case id")
    raw_topic = TopicSpec(f"bench.replay-raw.{run_id}", PARTITIONS, "case id")
    await ensure_topics(bootstrap, [domain, raw_topic])
    pool = await create_pool(url, min_size=1, max_size=3)
    store = EventStore(pool)
    relay = OutboxRelay(service="bench", store=store, dsn=url, bootstrap=bootstrap, settings=settings,
                        domain_topic=domain.name, topics=[domain])  # fmt: skip
    memory = Memory()
    try:
        # The relay had published the whole store, then the broker lost it: the relay's own response to a
        # loss (checkpoint back to the start, a relay_rebuilds row, the store published again) is what runs.
        await relay.set_checkpoint(await store.head())
        await relay._start_over(Loss("bench.replay: the broker lost the topic (simulated)"))
        update = memory.progress(events, "republish")
        memory.sampler.start()
        start = time.perf_counter()
        drain = asyncio.create_task(relay.drain(timeout=3600))
        while not drain.done():
            await asyncio.wait([drain], timeout=1.0)
            update(relay.published, events)
        await drain
        elapsed = time.perf_counter() - start
        peak = await memory.sampler.stop()
        if relay.published != events:
            raise RuntimeError(f"the relay published {relay.published} events, {events} are stored")
        async with pool.acquire() as conn:
            completed = await conn.fetchval("SELECT completed_at IS NOT NULL FROM relay_rebuilds ORDER BY id DESC")
        # The raw side: the same messages (the relay's wire rows: key, value, envelope headers), prepared
        # before the clock starts, sent by one producer built like the relay's, every ack awaited.
        rows: list[WireRow] = []
        position = Position()
        while len(rows) < raw_sample and (page := await store.read_wire(position, limit=5000)):
            rows.extend(page)
            position = Position(page[-1].tx_id, page[-1].global_position)
        messages = [(r.key, r.value, list(zip(wire_header_names(r.absent), r.headers, strict=True)))
                    for r in rows[:raw_sample]]  # fmt: skip
        producer = make_producer(bootstrap, settings)
        await producer.start()
        try:
            raw_start = time.perf_counter()
            futures = [await producer.send(raw_topic.name, v, key=k, headers=h) for k, v, h in messages]
            await asyncio.gather(*futures)
            raw_rate = len(messages) / (time.perf_counter() - raw_start)
        finally:
            await producer.stop()
    finally:
        await relay.stop()
        await pool.close()
    rate = events / elapsed
    return {"events_per_s": round(rate, 1), "seconds": round(elapsed, 2), "rebuild_completed": bool(completed),
            "raw_producer_events_per_s": round(raw_rate, 1), "raw_sample": len(messages),
            "ratio_to_raw_producer": round(rate / raw_rate, 3), **memory.figures(peak)}  # fmt: skip


async def main(
    args: argparse.Namespace, server: str, bootstrap: str | None, settings: HarbourSettings
) -> dict[str, Any]:
    async with fresh_database(server, "replay") as url:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(TOTALS_DDL)
        finally:
            await conn.close()
        await fill_store(url, args.events)
        base = await baseline(url)
        progress(f"baseline (server-side cursor, rows dropped): {base:,.0f} events/s")
        decode = await rebuild(url, DecodeOnly(), args.events, args.profile)
        progress(f"rebuild, decode only: {decode['events_per_s']:,.0f} events/s "
                 f"({decode['events_per_s'] / base:.2f} of baseline)")  # fmt: skip
        totals = await rebuild(url, ItemTotals(), args.events, args.profile)
        progress(f"rebuild, an upsert per event: {totals['events_per_s']:,.0f} events/s "
                 f"({totals['events_per_s'] / base:.2f} of baseline)")  # fmt: skip
        if args.unbatched:
            before = await rebuild(url, OneTripPerStatement(), args.events, args.profile)
            progress(f"rebuild, an upsert per event, a round trip each: {before['events_per_s']:,.0f} events/s")
        result: dict[str, Any] = {
            "bench": "replay",
            "events": args.events,
            "baseline_cursor_events_per_s": round(base, 1),
            "rebuild_decode_only": {**decode, "ratio_to_baseline": round(decode["events_per_s"] / base, 3)},
            "rebuild_upsert_per_event": {**totals, "ratio_to_baseline": round(totals["events_per_s"] / base, 3)},
            "target_rebuild_events_per_s": TARGET_REBUILD,
        }
        if args.unbatched:
            result["rebuild_upsert_round_trip_each"] = {
                **before,
                "ratio_to_baseline": round(before["events_per_s"] / base, 3),
            }
        if bootstrap is not None:
            again = await republish(url, bootstrap, settings, args.events, args.raw_sample)
            progress(f"republish: {again['events_per_s']:,.0f} events/s, raw producer "
                     f"{again['raw_producer_events_per_s']:,.0f} (ratio {again['ratio_to_raw_producer']})")  # fmt: skip
            result["republish"] = again
        return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events stored (default 1000000)")
    parser.add_argument("--raw-sample", type=int, default=100_000,
                        help="events the raw producer sends as the republish baseline (default 100000)")  # fmt: skip
    parser.add_argument("--skip-republish", action="store_true", help="no broker: the projection rebuild only")
    parser.add_argument("--unbatched", action="store_true",
                        help="also rebuild with a round trip per statement (as before DeferredWrites)")  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="cProfile the rebuilds (stats on stderr)")
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="harbour-bench-") as tmp:
        settings = HarbourSettings(var_dir=Path(tmp))  # the relay's trace files go to a scratch directory
        server = server_url(settings)
        progress(f"replay bench: {args.events:,} events")
        if args.skip_republish:
            result = asyncio.run(main(args, server, None, settings))
        else:
            with bench_broker(settings, Path(tmp)) as bootstrap:
                result = asyncio.run(main(args, server, bootstrap, settings))
    emit(result)


if __name__ == "__main__":
    run()
