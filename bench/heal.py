"""Healing after the broker lost its log: how long until a relay has published its store again and a consumer group
has read every event of it, for 100,000 stored events.

    python -m bench.heal [--events 100000]

A private Tansu broker is started on a free port (this bench kills it: it never uses HARBOUR_KAFKA_BOOTSTRAP).
A fresh database gets ``--events`` events; the relay runs as in a service (``OutboxRelay.start()``: its own
leader connection, LISTEN/NOTIFY, its periodic look for a loss) and publishes them; a consumer group (plain
aiokafka with Harbour's ``AssignmentWatch`` listener, the group settings of a service) reads them all. Then the
broker is SIGKILLed and started again, empty, on the same port. Timed from the moment the new broker answers:

- ``detect_seconds``: until the relay found the loss (its ``relay_rebuilds`` row);
- ``republish_seconds``: until that rebuild was complete (every event acknowledged again);
- ``heal_seconds``: until the consumer group had read every event id again.

The baselines, measured in the same run before the loss: ``raw_publish_seconds``, one raw producer sending the
same messages (``make_producer``, as bench.relay's raw side), and ``first_pass_seconds``, the relay's first
publish of the store with the group reading along (the same work as healing, without the loss).
Progress goes to stderr; the last line on stdout is one JSON object (see bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from bench.common import emit, fresh_database, progress, server_url
from bench.relay import append_events, read_after
from harbour.db import create_pool
from harbour.kafka.producer import make_producer
from harbour.kafka.rebuild import AssignmentWatch
from harbour.kafka.relay import OutboxRelay, domain_message
from harbour.kafka.topics import TopicSpec, ensure_topics
from harbour.settings import HarbourSettings
from harbour.store import EventStore, Position
from harbour_tools.infra import BrokerProcess

WRITERS = 8


class _Reader:
    """A consumer group that counts the distinct event ids it has read (the relay's envelope header)."""

    def __init__(self, bootstrap: str, topic: str, settings: HarbourSettings) -> None:
        self.seen: set[bytes] = set()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=f"bench.heal.{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest",
            enable_auto_commit=False, session_timeout_ms=settings.consumer_session_timeout_ms,
            heartbeat_interval_ms=settings.consumer_heartbeat_ms,
            rebalance_timeout_ms=settings.consumer_rebalance_timeout_ms, max_poll_records=5000,
        )  # fmt: skip
        self.watch = AssignmentWatch([topic])
        self.watch.attach(self)  # it looks for ``.consumer``, as on a FastStream subscriber
        self.topic = topic
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.consumer.subscribe([self.topic], listener=self.watch)
        await self.consumer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                batch = await self.consumer.getmany(timeout_ms=200)
            except Exception:  # the broker is away; aiokafka reconnects
                await asyncio.sleep(0.1)
                continue
            for records in batch.values():
                for record in records:
                    self.seen.add(dict(record.headers)["event_id"])
            if batch:
                try:
                    await self.consumer.commit()  # as a service's consumer does after its effects
                except Exception:  # an unknown member after the loss: aiokafka rejoins
                    pass

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.consumer.stop()


async def _until(predicate: Any, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not await predicate():
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(0.05)
    return time.monotonic()


async def main(args: argparse.Namespace, server: str, broker: BrokerProcess, settings: HarbourSettings) -> dict:
    run_id = uuid.uuid4().hex[:8]
    topic = TopicSpec(f"bench.heal.{run_id}", 4, "case id")
    raw_topic = TopicSpec(f"bench.heal-raw.{run_id}", 4, "case id")
    await ensure_topics(broker.bootstrap, [topic, raw_topic])
    async with fresh_database(server, "heal") as url:
        pool = await create_pool(url, min_size=2, max_size=WRITERS + 2)
        store = EventStore(pool)
        relay = OutboxRelay(service="bench", store=store, dsn=url, bootstrap=broker.bootstrap, settings=settings,
                            domain_topic=topic.name, topics=[topic])  # fmt: skip
        reader = _Reader(broker.bootstrap, topic.name, settings)
        try:
            await append_events(store, args.events, "heal")
            events = await read_after(store, Position())
            progress(f"{len(events)} events stored")

            producer = make_producer(broker.bootstrap, settings)
            await producer.start()
            try:
                messages = [domain_message(raw_topic.name, e) for e in events]
                start = time.monotonic()
                futures = [await producer.send(raw_topic.name, m.value, key=m.key, headers=m.headers) for m in messages]
                await asyncio.gather(*futures)
                raw_seconds = time.monotonic() - start
            finally:
                await producer.stop()
            progress(f"raw producer: {len(messages)} messages in {raw_seconds:.1f} s")

            async def read_all() -> bool:
                return len(reader.seen) >= len(events)

            start = time.monotonic()
            relay.start()
            await reader.start()
            first = await _until(read_all, 300, "first read") - start
            head = await store.head()
            await _until(lambda: _at(relay, head), 60, "first publish")
            progress(f"first pass: published and read by the group in {first:.1f} s")

            broker.kill()
            progress("broker killed (SIGKILL)")
            await asyncio.to_thread(broker.start)
            restarted = time.monotonic()
            reader.seen.clear()
            progress("broker started again, empty, on the same port")

            async def rebuild_row(column: str) -> bool:
                conn = await asyncpg.connect(url)
                try:
                    return bool(await conn.fetchval(f"SELECT count({column}) FROM relay_rebuilds"))
                finally:
                    await conn.close()

            detected = await _until(lambda: rebuild_row("detected_at"), 60, "detection") - restarted
            progress(f"relay found the loss after {detected:.1f} s")
            republished = await _until(lambda: rebuild_row("completed_at"), 300, "re-publish") - restarted
            progress(f"relay published the store again: done {republished:.1f} s after the restart")
            healed = await _until(read_all, 300, "heal") - restarted
            progress(f"consumer group read all {len(events)} events again {healed:.1f} s after the restart")
        finally:
            await reader.stop()
            await relay.stop()
            await pool.close()
    return {
        "bench": "heal",
        "events": len(events),
        "loss_check_seconds": settings.relay_loss_check_seconds,
        "consumer_session_timeout_ms": settings.consumer_session_timeout_ms,
        "detect_seconds": round(detected, 2),
        "republish_seconds": round(republished, 2),
        "heal_seconds": round(healed, 2),
        "first_pass_seconds": round(first, 2),
        "raw_publish_seconds": round(raw_seconds, 2),
        "heal_over_raw": round(healed / raw_seconds, 2),
        "heal_over_first_pass": round(healed / first, 2),
    }


async def _at(relay: OutboxRelay, head: Position) -> bool:
    return await relay.checkpoint() >= head


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.heal", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="events stored before the loss (default 100000)")
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="harbour-bench-") as tmp:
        # Traces of the relay's publish spans go to a scratch directory, not the repository's var/.
        settings = HarbourSettings(var_dir=Path(tmp))
        server = server_url(settings)
        broker = BrokerProcess(log_dir=Path(tmp), log_name="tansu-bench.log").start()
        progress(f"private Tansu broker on {broker.bootstrap} (pid {broker.pid})")
        try:
            result = asyncio.run(main(args, server, broker, settings))
        finally:
            broker.stop()
    progress(f"healed {result['events']} events in {result['heal_seconds']} s")
    emit(result)


if __name__ == "__main__":
    run()
