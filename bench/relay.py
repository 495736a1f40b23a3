"""Relay throughput, store → broker through OutboxRelay, against a raw aiokafka producer sending the same messages.

    python -m bench.relay [--events 20000] [--rounds 2] [--warmup 1000]

A private Tansu broker is started on a free port unless HARBOUR_KAFKA_BOOTSTRAP names one. Progress goes to
stderr; the last line on stdout is one JSON object (see bench/README.md).
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
from pathlib import Path

from bench.common import BenchItemCounted, bench_broker, emit, fresh_database, new_traceparent, progress, server_url
from harbour.db import create_pool
from harbour.kafka.producer import make_producer
from harbour.kafka.relay import OutboxRelay, domain_message
from harbour.kafka.topics import TopicSpec, ensure_topics
from harbour.settings import HarbourSettings
from harbour.store import Actor, CommandContext, EventStore, Position, RecordedEvent

TARGET = 0.5
WRITERS = 8
BATCH = 100
CASES = 500  # distinct case ids (message keys), spread over the topic's partitions


async def append_events(store: EventStore, count: int, label: str) -> None:
    """``count`` events in appends of up to 100, by a few concurrent writers, over ``CASES`` case ids."""
    chunks = [min(BATCH, count - i) for i in range(0, count, BATCH)]

    async def writer(index: int) -> None:
        for n, size in enumerate(chunks[index::WRITERS]):
            case = f"case-{(index + n * WRITERS) % CASES}"
            stream = f"{label}-w{index}-{n}"
            events = [BenchItemCounted(item_id=stream, item="rice", count=i + 1, unit="kg") for i in range(size)]
            # Each append is one request with a trace of its own, as a command over HTTP would be.
            context = CommandContext(actor=Actor("bench", "writer", "relay"), traceparent=new_traceparent())
            await store.append(stream_id=stream, stream_type="bench-item", case_id=case, expected_version=0,
                               events=events, context=context)  # fmt: skip

    await asyncio.gather(*(writer(i) for i in range(WRITERS)))


async def read_after(store: EventStore, position: Position) -> list[RecordedEvent]:
    events: list[RecordedEvent] = []
    while batch := await store.read_all(position, limit=5000):
        events.extend(batch)
        position = Position(batch[-1].tx_id, batch[-1].global_position)
    return events


async def measure_relay(relay: OutboxRelay, count: int, profiler: cProfile.Profile | None = None) -> float:
    start = time.perf_counter()
    before = relay.published
    if profiler is not None:
        profiler.enable()
    try:
        await relay.drain(timeout=600)
    finally:
        if profiler is not None:
            profiler.disable()
    elapsed = time.perf_counter() - start
    published = relay.published - before
    if published != count:
        raise RuntimeError(f"the relay published {published} events, {count} were appended")
    return count / elapsed


async def measure_raw(producer, topic: str, events: list[RecordedEvent]) -> float:
    # The same values, keys and headers the relay sends (the stored traceparent where the relay puts its span's).
    messages = [domain_message(topic, event) for event in events]
    start = time.perf_counter()
    futures = [await producer.send(topic, m.value, key=m.key, headers=m.headers) for m in messages]
    await asyncio.gather(*futures)
    return len(messages) / (time.perf_counter() - start)


async def main(args: argparse.Namespace, server: str, bootstrap: str, settings: HarbourSettings) -> dict[str, object]:
    run_id = uuid.uuid4().hex[:8]
    relay_topic = TopicSpec(f"bench.relay.{run_id}", 4, "case id")
    raw_topic = TopicSpec(f"bench.raw.{run_id}", 4, "case id")
    await ensure_topics(bootstrap, [relay_topic, raw_topic])
    async with fresh_database(server, "relay") as url:
        pool = await create_pool(url, min_size=2, max_size=WRITERS + 2)
        store = EventStore(pool)
        relay = OutboxRelay(service="bench", store=store, dsn=url, bootstrap=bootstrap, settings=settings,
                            domain_topic=relay_topic.name, topics=[relay_topic])  # fmt: skip
        producer = make_producer(bootstrap, settings)
        await producer.start()
        try:
            # Warm-up: the relay's producer and topic check, the raw producer's metadata, both paths once.
            if args.warmup:
                await append_events(store, args.warmup, "warm")
                await measure_relay(relay, args.warmup)
                warm = await read_after(store, Position())
                await measure_raw(producer, raw_topic.name, warm)
                progress(f"warmed up with {args.warmup} events")
            profiler = cProfile.Profile() if args.profile else None
            relay_rates: list[float] = []
            raw_rates: list[float] = []
            for rnd in range(args.rounds):
                head = await store.head()
                await append_events(store, args.events, f"r{rnd}")
                events = (await read_after(store, head))[: args.events]
                if len(events) != args.events:
                    raise RuntimeError(f"read {len(events)} of the {args.events} events just appended")
                for side in ("relay", "raw") if rnd % 2 == 0 else ("raw", "relay"):
                    if side == "relay":
                        relay_rates.append(await measure_relay(relay, args.events, profiler))
                    else:
                        raw_rates.append(await measure_raw(producer, raw_topic.name, events))
                progress(
                    f"round {rnd + 1}/{args.rounds}: relay {relay_rates[-1]:8.0f} ev/s, raw {raw_rates[-1]:8.0f} ev/s, "
                    f"ratio {relay_rates[-1] / raw_rates[-1]:.2f}"
                )
            if profiler is not None:
                stats = pstats.Stats(profiler, stream=sys.stderr)
                stats.sort_stats("cumulative").print_stats(40)
                stats.sort_stats("tottime").print_stats(25)
        finally:
            await producer.stop()
            await relay.stop()
            await pool.close()

    def overall(rates: list[float]) -> float:  # events over total time, rounds being of equal size
        return len(rates) / sum(1 / r for r in rates)

    relay_rate, raw_rate = overall(relay_rates), overall(raw_rates)
    return {
        "bench": "relay",
        "events": args.events,
        "rounds": args.rounds,
        "relay_events_per_s": round(relay_rate, 1),
        "raw_events_per_s": round(raw_rate, 1),
        "ratio": round(relay_rate / raw_rate, 3),
        "ratio_rounds": [round(a / b, 3) for a, b in zip(relay_rates, raw_rates, strict=True)],
        "target": TARGET,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.relay", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per measured drain (default 20000)")
    parser.add_argument("--rounds", type=int, default=4, help="measured rounds, relay and raw alternating (default 4)")
    parser.add_argument("--warmup", type=int, default=1000, help="events relayed and sent before measuring")
    parser.add_argument("--profile", action="store_true", help="cProfile the relay's drains (stats on stderr)")
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="harbour-bench-") as tmp:
        # Traces of the relay's publish spans go to a scratch directory, not the repository's var/.
        settings = HarbourSettings(var_dir=Path(tmp))
        server = server_url(settings)
        with bench_broker(settings, Path(tmp)) as bootstrap:
            progress(f"relay bench: {args.rounds} rounds of {args.events} events, acks={settings.kafka_acks}")
            result = asyncio.run(main(args, server, bootstrap, settings))
    progress(f"relay/raw: {result['ratio']} (target {TARGET})")
    emit(result)


if __name__ == "__main__":
    run()
