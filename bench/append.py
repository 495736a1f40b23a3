"""Append throughput of the event store against raw asyncpg INSERTs into an equivalent plain table.

    python -m bench.append [--writers 8] [--batch 100] [--seconds 3] [--rounds 3] [--warmup 1]

Progress goes to stderr; the last line on stdout is one JSON object (see bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg

from bench.common import TRACEPARENT, BenchItemCounted, emit, fresh_database, progress, server_url
from harbour.db import create_pool
from harbour.settings import HarbourSettings
from harbour.store import Actor, CommandContext, EventStore

TARGET_SINGLE = 0.6
TARGET_BATCHED = 0.7
STREAM_TYPE = "bench-item"
# Appends per stream before a writer moves on to a new stream of its own (streams of realistic length).
APPENDS_PER_STREAM = 10

# The baseline table: a copy of ``events`` with the same columns, defaults, constraints and indexes
# (LIKE ... INCLUDING ALL, so it follows the migration), given a sequence of its own.
RAW_TABLE_DDL = """
CREATE TABLE raw_events (LIKE events INCLUDING ALL);
CREATE SEQUENCE raw_events_position_seq OWNED BY raw_events.global_position;
ALTER TABLE raw_events ALTER COLUMN global_position SET DEFAULT nextval('raw_events_position_seq');
"""
RAW_COLUMNS = (
    "event_id, stream_id, stream_type, stream_version, event_type, schema_version, payload, case_id, "
    "jurisdiction, occurred_at, actor_org, actor_role, actor_user, correlation_id, causation_id, traceparent"
)
N_COLUMNS = 16


def raw_insert_sql(rows: int) -> str:
    values = ",".join("(" + ",".join(f"${r * N_COLUMNS + c + 1}" for c in range(N_COLUMNS)) + ")" for r in range(rows))
    return f"INSERT INTO raw_events ({RAW_COLUMNS}) VALUES {values}"


class Writer:
    """One of the concurrent writers: its own streams, each appended ``APPENDS_PER_STREAM`` times."""

    def __init__(self, label: str, index: int, batch: int) -> None:
        self.label = label
        self.index = index
        self.batch = batch
        self.stream_no = 0
        self.version = 0
        self.appends_here = 0
        self.events = 0
        self.actor = Actor("bench", "writer", f"w{index}")
        self.context = CommandContext(actor=self.actor, traceparent=TRACEPARENT)

    def next_stream(self) -> tuple[str, int]:
        """The stream to append to now, and its current version."""
        if self.appends_here == APPENDS_PER_STREAM:
            self.stream_no += 1
            self.version = 0
            self.appends_here = 0
        self.appends_here += 1
        return f"{self.label}-w{self.index}-s{self.stream_no}", self.version


async def store_append(store: EventStore, writer: Writer) -> None:
    stream, version = writer.next_stream()
    events = [
        BenchItemCounted(item_id=stream, item="rice", count=version + i + 1, unit="kg") for i in range(writer.batch)
    ]
    recorded = await store.append(
        stream_id=stream, stream_type=STREAM_TYPE, case_id=stream, expected_version=version,
        events=events, context=writer.context,
    )  # fmt: skip
    writer.version = recorded[-1].stream_version
    writer.events += len(recorded)


def make_raw_insert(pool: asyncpg.Pool, batch: int) -> Callable[[Writer], Awaitable[None]]:
    sql = raw_insert_sql(batch)

    async def raw_insert(writer: Writer) -> None:
        # The least any writer of such a table must do per event: an id, the serialised payload, the row's
        # values; then one statement (one transaction: autocommit, like the store's single-statement append).
        stream, version = writer.next_stream()
        occurred = datetime.now(UTC)
        ctx = writer.context
        args: list[object] = []
        for i in range(batch):
            payload = json.dumps(
                {"item_id": stream, "item": "rice", "count": version + i + 1, "unit": "kg"}, separators=(",", ":")
            )
            args += (
                uuid.uuid4(), stream, STREAM_TYPE, version + i + 1, BenchItemCounted.event_type,
                BenchItemCounted.schema_version, payload, stream, "BE", occurred, ctx.actor.org, ctx.actor.role,
                ctx.actor.user, ctx.correlation_id, ctx.causation_id, ctx.traceparent,
            )  # fmt: skip
        async with pool.acquire() as conn:
            await conn.execute(sql, *args)
        writer.version = version + batch
        writer.events += batch

    return raw_insert


async def run_phase(
    label: str, writers: int, batch: int, seconds: float, op: Callable[[Writer], Awaitable[None]]
) -> tuple[int, float]:
    """``writers`` concurrent writers doing ``op`` until ``seconds`` have passed; returns (events, elapsed)."""
    crew = [Writer(label, i, batch) for i in range(writers)]
    start = time.perf_counter()
    deadline = start + seconds

    async def work(writer: Writer) -> None:
        while time.perf_counter() < deadline:
            await op(writer)

    await asyncio.gather(*(work(w) for w in crew))
    return sum(w.events for w in crew), time.perf_counter() - start


async def main(args: argparse.Namespace, server: str) -> dict[str, object]:
    async with fresh_database(server, "append") as url:
        pool = await create_pool(url, min_size=args.writers, max_size=args.writers)
        try:
            async with pool.acquire() as conn:
                await conn.execute(RAW_TABLE_DDL)
            store = EventStore(pool)
            ops: dict[tuple[str, str], Callable[[Writer], Awaitable[None]]] = {}
            sizes = {"single": 1, "batched": args.batch}

            for mode, size in sizes.items():
                raw = make_raw_insert(pool, size)

                async def store_op(writer: Writer) -> None:
                    await store_append(store, writer)

                ops[("store", mode)] = store_op
                ops[("raw", mode)] = raw

            totals = {key: [0, 0.0] for key in ops}
            ratios: dict[str, list[float]] = {mode: [] for mode in sizes}
            if args.warmup > 0:
                for (kind, mode), op in ops.items():
                    await run_phase(f"warm-{kind}-{mode}", args.writers, sizes[mode], args.warmup, op)
                progress(f"warmed up ({args.warmup:g} s per phase)")
            for rnd in range(args.rounds):
                for mode in sizes:
                    # Alternate which side goes first, so that drift (table growth, checkpoints) hits both.
                    order = ("store", "raw") if (rnd + (mode == "batched")) % 2 == 0 else ("raw", "store")
                    rates = {}
                    for kind in order:
                        events, elapsed = await run_phase(
                            f"{kind}-{mode}-r{rnd}", args.writers, sizes[mode], args.seconds, ops[(kind, mode)]
                        )
                        totals[(kind, mode)][0] += events
                        totals[(kind, mode)][1] += elapsed
                        rates[kind] = events / elapsed
                    ratios[mode].append(rates["store"] / rates["raw"])
                    progress(
                        f"round {rnd + 1}/{args.rounds} {mode:7}: store {rates['store']:9.0f} ev/s, "
                        f"raw {rates['raw']:9.0f} ev/s, ratio {ratios[mode][-1]:.2f}"
                    )
        finally:
            await pool.close()

    def rate(kind: str, mode: str) -> float:
        events, elapsed = totals[(kind, mode)]
        return events / elapsed

    result: dict[str, object] = {
        "bench": "append",
        "writers": args.writers,
        "batch": args.batch,
        "seconds_per_phase": args.seconds,
        "rounds": args.rounds,
        "store_single_events_per_s": round(rate("store", "single"), 1),
        "store_batched_events_per_s": round(rate("store", "batched"), 1),
        "raw_single_events_per_s": round(rate("raw", "single"), 1),
        "raw_batched_events_per_s": round(rate("raw", "batched"), 1),
        "ratio_single": round(rate("store", "single") / rate("raw", "single"), 3),
        "ratio_batched": round(rate("store", "batched") / rate("raw", "batched"), 3),
        "ratio_single_rounds": [round(r, 3) for r in ratios["single"]],
        "ratio_batched_rounds": [round(r, 3) for r in ratios["batched"]],
        "target_single": TARGET_SINGLE,
        "target_batched": TARGET_BATCHED,
    }
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.append", description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=8, help="concurrent writers (default 8)")
    parser.add_argument("--batch", type=int, default=100, help="events per transaction when batched (default 100)")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each measured phase (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds, store and raw alternating (default 3)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per phase (default 1)")
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    server = server_url(HarbourSettings())
    progress(
        f"append bench: {args.writers} writers, 1 and {args.batch} events per transaction, "
        f"{args.rounds} rounds x {args.seconds:g} s per phase"
    )
    result = asyncio.run(main(args, server))
    progress(
        f"store/raw: single {result['ratio_single']} (target {TARGET_SINGLE}), "
        f"batched {result['ratio_batched']} (target {TARGET_BATCHED})"
    )
    emit(result)


if __name__ == "__main__":
    run()
