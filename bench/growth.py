"""How the store's costs grow with its size: append rate, relay page time and one stream's load time.

    python -m bench.growth [--sizes 0,200000,1000000] [--seconds 2] [--repeat 30]
    python -m bench.growth --sizes 0,1000000,10000000     # the issue's sizes (the fill takes several minutes)

One fresh database (migrated like a service's, dropped at the end) grows through ``--sizes`` events already
stored (filled with server-side multi-row inserts, not the append path). At each size, with nothing else
running on the database:

- **append**: events/s by 4 concurrent writers through ``EventStore.append``, one event per call, ten
  appends per stream (as bench.append): the median of three bursts of ``--seconds`` each, after a
  ``CHECKPOINT`` (the fill's WAL is not the append's cost);
- **relay page**: the time to read the relay's next page of ``HARBOUR_RELAY_BATCH_SIZE`` (2,000) events at
  the store's tail, where a relay that keeps up reads: ``read_wire`` (the domain relay's Kafka form) and
  ``read_all`` (decoded events, what a routed relay reads), median of ``--repeat``;
- **stream load**: ``read_stream`` of one stream of 10, 100 and 1,000 events (what ``Repository.load``
  reads before it applies the events), median of ``--repeat``.

The baseline is the same figure on the empty store (the first size), measured in the same run: every figure
comes with its ratio to it (target: within 20 %). Progress goes to stderr; the last line on stdout is one JSON
object (see bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.common import TRACEPARENT, BenchItemCounted, emit, fill_store, fresh_database, progress, server_url
from harbour.db import create_pool
from harbour.settings import HarbourSettings
from harbour.store import Actor, CommandContext, EventStore, Position

WRITERS = 4  # the shared server allows a few connections per bench
APPENDS_PER_STREAM = 10
STREAM_LENGTHS = (10, 100, 1000)
TOLERANCE = 0.2
BURSTS = 3  # append bursts per size: the median is the figure (the machine may be shared)
CONTEXT = CommandContext(actor=Actor("bench", "writer", "growth"), traceparent=TRACEPARENT)


async def append_rate(store: EventStore, label: str, seconds: float) -> tuple[float, Position]:
    """Events/s appended one per call by WRITERS writers; and the position before the first of them."""
    start_position = await store.head()
    stop = time.perf_counter() + seconds
    counts = [0] * WRITERS

    async def writer(index: int) -> None:
        stream_no, version = 0, 0
        while time.perf_counter() < stop:
            if version == APPENDS_PER_STREAM:
                stream_no, version = stream_no + 1, 0
            stream = f"{label}-w{index}-s{stream_no}"
            event = BenchItemCounted(item_id=stream, item="rice", count=version + 1, unit="kg")
            recorded = await store.append(stream_id=stream, stream_type="bench-item", case_id=stream,
                                          expected_version=version, events=[event], context=CONTEXT)  # fmt: skip
            version = recorded[-1].stream_version
            counts[index] += 1

    began = time.perf_counter()
    await asyncio.gather(*(writer(i) for i in range(WRITERS)))
    return sum(counts) / (time.perf_counter() - began), start_position


async def median_ms(repeat: int, call: Callable[[], Awaitable[Any]]) -> float:
    await call()  # warm: plan cached, pages in the buffer cache (as for a relay or service that runs)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def long_streams(store: EventStore, label: str) -> dict[int, str]:
    """One stream of each length in STREAM_LENGTHS, appended 100 events per call."""
    streams: dict[int, str] = {}
    for length in STREAM_LENGTHS:
        stream = f"{label}-long-{length}"
        version = 0
        while version < length:
            size = min(100, length - version)
            events = [BenchItemCounted(item_id=stream, item="rice", count=version + i + 1, unit="kg")
                      for i in range(size)]  # fmt: skip
            recorded = await store.append(stream_id=stream, stream_type="bench-item", case_id=stream,
                                          expected_version=version, events=events, context=CONTEXT)  # fmt: skip
            version = recorded[-1].stream_version
        streams[length] = stream
    return streams


async def readable(store: EventStore, timeout: float = 300.0) -> None:
    """Wait until every event stored so far is readable: ``read_all`` holds back rows behind any transaction
    still open on the whole server (another bench's rebuild, another suite's test), and a page read then would
    measure an empty page."""
    async with store.pool.acquire() as conn:
        last = await conn.fetchval("SELECT max(global_position) FROM events")
    deadline = time.monotonic() + timeout
    while (await store.head()).global_position < last:
        if time.monotonic() > deadline:
            raise RuntimeError("events stayed unreadable: a transaction elsewhere on the server stays open")
        await asyncio.sleep(0.5)


async def measure(store: EventStore, size: int, args: argparse.Namespace, page: int) -> dict[str, Any]:
    label = f"g{size}"
    # The fill's WAL written out first, so that a checkpoint it triggered does not land in the measurement.
    async with store.pool.acquire() as conn:
        await conn.execute("CHECKPOINT")
    bursts = [await append_rate(store, f"{label}b{n}", args.seconds) for n in range(BURSTS)]
    rate, before = statistics.median(r for r, _ in bursts), bursts[0][1]
    streams = await long_streams(store, label)
    await readable(store)
    # The tail page: the events just appended (at least a page of them at any size but a tiny --seconds).
    wire_ms = await median_ms(args.repeat, lambda: store.read_wire(before, limit=page))
    read_ms = await median_ms(args.repeat, lambda: store.read_all(before, limit=page))
    read = len(await store.read_all(before, limit=page))
    loads = {length: await median_ms(args.repeat, lambda s=stream: store.read_stream(s))  # type: ignore[misc]
             for length, stream in streams.items()}  # fmt: skip
    async with store.pool.acquire() as conn:
        table_mb = await conn.fetchval("SELECT pg_total_relation_size('events') / 1e6")
    figures = {
        "stored_before": size,
        "events_table_mb": round(float(table_mb), 1),  # with its indexes and TOAST: the store's size on disk
        "append_events_per_s": round(rate, 1),
        "append_bursts": [round(r, 1) for r, _ in bursts],
        "relay_page_events": read,
        "relay_page_wire_ms": round(wire_ms, 2),
        "relay_page_read_all_ms": round(read_ms, 2),
        **{f"load_stream_{length}_ms": round(ms, 3) for length, ms in loads.items()},
    }
    progress(
        f"{size:>11,} stored: append {rate:,.0f} ev/s, page of {read} wire {wire_ms:.1f} ms / read_all "
        f"{read_ms:.1f} ms, load " + ", ".join(f"{n}: {ms:.2f} ms" for n, ms in loads.items())
    )
    return figures


def ratios(base: dict[str, Any], at: dict[str, Any]) -> dict[str, float]:
    keys = [k for k in at if k.endswith("_per_s") or k.endswith("_ms")]
    return {k: round(at[k] / base[k], 3) for k in keys if base[k]}


def within_target(ratio: dict[str, float]) -> bool:
    """Rates may not fall below 1 - TOLERANCE of the empty store's, times may not pass 1 + TOLERANCE."""
    return all(r >= 1 - TOLERANCE if k.endswith("_per_s") else r <= 1 + TOLERANCE for k, r in ratio.items())


async def main(args: argparse.Namespace, server: str, settings: HarbourSettings) -> dict[str, Any]:
    sizes = sorted(args.sizes)
    rows: list[dict[str, Any]] = []
    async with fresh_database(server, "growth") as url:
        pool = await create_pool(url, min_size=1, max_size=WRITERS)
        store = EventStore(pool)
        try:
            for size in sizes:
                stored = await store.count()
                if size > stored:
                    # Streams of ten events over 10,000 cases; what earlier sizes appended counts towards it.
                    await fill_store(url, size - stored, label=f"fill{size}")
                rows.append(await measure(store, size, args, settings.relay_batch_size))
        finally:
            await pool.close()
    base = rows[0]
    for row in rows[1:]:
        row["ratio_to_first"] = ratios(base, row)
        row["within_target"] = within_target(row["ratio_to_first"])
    return {"bench": "growth", "sizes": sizes, "writers": WRITERS, "tolerance": TOLERANCE, "results": rows}


def sizes(text: str) -> list[int]:
    return [int(float(part)) for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.growth", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=sizes, default=[0, 200_000, 1_000_000],
                        help="events stored before each measurement, comma-separated (default 0,200000,1000000; "
                             "the issue's: 0,1000000,10000000)")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per append burst (default 2)")
    parser.add_argument("--repeat", type=int, default=30, help="reads per page and stream figure (median)")
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="harbour-bench-") as tmp:
        settings = HarbourSettings(var_dir=Path(tmp))
        server = server_url(settings)
        progress(f"growth bench: sizes {', '.join(f'{s:,}' for s in sorted(args.sizes))}")
        result = asyncio.run(main(args, server, settings))
    for row in result["results"][1:]:
        progress(f"{row['stored_before']:,} stored, ratios to {result['sizes'][0]:,}: {row['ratio_to_first']}")
    emit(result)


if __name__ == "__main__":
    run()
