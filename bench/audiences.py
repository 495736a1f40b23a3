"""Fan-out of the feeds service's server-sent events: one audience's milestones to many concurrent subscribers.

    python -m bench.audiences [--subscribers 500] [--milestones 100] [--rate 10] [--audiences 1000]

Starts a private Tansu broker (or uses HARBOUR_KAFKA_BOOTSTRAP) and the feeds service alone as a uvicorn
process on a fresh database (dropped at the end). ``--subscribers`` clients open ``GET
/feeds/<audience>/stream`` as the audience (a keep-alive HTTP/1.1 client over asyncio streams, one connection
each); then ``--milestones`` milestones are produced on ``milestones.<audience>.v1`` at ``--rate`` a second.
Each goes the real way: feeds' consumer, its inbox, the feed table, the NOTIFY, every open stream. The
latency of one delivery is from the producer's acknowledgement to the line's arrival at one subscriber.
The baseline is the same path with one subscriber, measured first in the same run.

Then the routing over many audience topics: feeds is started again with ``--audiences`` audiences in all (the
organisations of DOMAIN.md and as many local police zones as make up the number, HARBOUR_POLICE_ZONES: 27
jurisdictions' offices would be about 1,000), one stream per audience, and the milestones go round-robin to every
audience's own topic; the baseline is the same with the organisations alone (no zone), in the same run.
Progress goes to stderr; the last line on stdout is one JSON object (see bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bench.common import bench_broker, emit, progress, server_url, service_process
from harbour.auth import issue_token
from harbour.kafka.producer import make_producer
from harbour.settings import HarbourSettings
from schemas.audiences import all_audiences, milestone_topic
from schemas.milestones import Milestone, MilestoneType

AUDIENCE = "police-federal"
TARGET_P99_S = 1.0
HEALTH_SECONDS = 120.0


class Subscriber:
    """One SSE stream of ``audience``: when each milestone (by its index in ``case_ref``) arrived."""

    def __init__(self, audience: str = AUDIENCE) -> None:
        self.audience = audience
        self.arrived: dict[int, float] = {}
        self.open = asyncio.Event()
        self.refused = 0  # 429/503 answers before the stream opened

    async def follow(self, host: str, port: int, token: str) -> None:
        while True:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(
                f"GET /feeds/{self.audience}/stream HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                "Accept: text/event-stream\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
            status = await reader.readline()
            if b" 200 " in status:
                break
            writer.close()
            if b" 429 " not in status and b" 503 " not in status:
                raise RuntimeError(f"stream refused: {status!r}")
            # Shed: a burst of streams opening at once from one organisation (3 starting at a time, by the
            # per-caller share). A client tries again a moment later, as the problem's Retry-After says.
            self.refused += 1
            await asyncio.sleep(0.05 + random.random() * 0.2)
        try:
            while line := await reader.readline():
                if line.startswith(b"retry:"):
                    self.open.set()
                elif line.startswith(b"data: ") or (line[:1].isalnum() and b'"case_ref"' in line):
                    # Chunked transfer: the data line comes alone, or after its chunk's size line.
                    text = line.decode(errors="replace")
                    at = text.find('"case_ref":"bench-')
                    if at >= 0:
                        index = int(text[at + 18 : text.index('"', at + 18)])
                        self.arrived.setdefault(index, time.perf_counter())
        finally:
            writer.close()


async def _stop(producer: Any, tasks: list[asyncio.Task[None]]) -> None:
    await producer.stop()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def percentile_ms(latencies: list[float], p: float) -> float | None:
    """The ``p`` quantile of sorted latencies in seconds, in milliseconds (None: no latency)."""
    return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 1) if latencies else None


def milestone(index: int, run: str, audience: str = AUDIENCE) -> Milestone:
    return Milestone(milestone_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{run}/{index}"),
                     milestone=MilestoneType.REFERRAL_RECEIVED, audience=audience, case_ref=f"bench-{index}",
                     occurred_on=date.today(), recorded_at=datetime.now(UTC), source="intake")  # fmt: skip


async def fan_out(base: str, bootstrap: str, settings: HarbourSettings, subscribers: int, count: int,
                  rate: float, first: int, run: str) -> dict[str, Any]:  # fmt: skip
    host, port = base.removeprefix("http://").split(":")
    # Signed with the development keys under the scratch var/ the feeds process was given too.
    token = issue_token(AUDIENCE, "officer", "bench-audiences", settings=settings)
    subs = [Subscriber() for _ in range(subscribers)]
    tasks = [asyncio.create_task(s.follow(host, int(port), token)) for s in subs]
    producer = make_producer(bootstrap, settings)
    await producer.start()
    try:
        async with asyncio.timeout(120):
            while not all(s.open.is_set() for s in subs):
                for task in tasks:
                    if task.done():
                        task.result()  # a refused stream raises here
                await asyncio.sleep(0.05)
        progress(f"{subscribers} streams open")
        # A first milestone, not measured: the consumer's group formed, every stream read once.
        await producer.send_and_wait(milestone_topic(AUDIENCE), milestone(first, run).model_dump_json().encode(),
                                     key=b"bench")  # fmt: skip
        async with asyncio.timeout(120):
            while not all(first in s.arrived for s in subs):
                await asyncio.sleep(0.05)
        sent: dict[int, float] = {}
        start = time.perf_counter()
        for n in range(1, count + 1):
            index = first + n
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
            await producer.send_and_wait(milestone_topic(AUDIENCE),
                                         milestone(index, run).model_dump_json().encode(), key=b"bench")  # fmt: skip
            sent[index] = time.perf_counter()
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline and not all(i in s.arrived for s in subs for i in sent):
            await asyncio.sleep(0.1)
    finally:
        await _stop(producer, tasks)
    latencies = sorted(s.arrived[i] - t for s in subs for i, t in sent.items() if i in s.arrived)
    lost = subscribers * len(sent) - len(latencies)

    def pct(p: float) -> float | None:
        return percentile_ms(latencies, p)

    worst = round(latencies[-1] * 1000, 1) if latencies else None
    return {"subscribers": subscribers, "milestones": len(sent), "deliveries": len(latencies), "lost": lost,
            "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": worst,
            "opens_shed": sum(s.refused for s in subs)}  # fmt: skip


def zones_for(audiences: int) -> list[str]:
    """As many local police zones as make ``audiences`` audiences with the organisations (none: fewer asked)."""
    return [f"police-zone-{n:04d}" for n in range(max(0, audiences - len(all_audiences([]))))]


async def routing(base: str, bootstrap: str, settings: HarbourSettings, zones: list[str], count: int, rate: float,
                  run: str) -> dict[str, Any]:  # fmt: skip
    """One stream per audience; ``count`` milestones round-robin over every audience's topic after one each."""
    host, port = base.removeprefix("http://").split(":")
    audiences = all_audiences(zones)
    subs = {a: Subscriber(a) for a in audiences}
    # Each audience's own officer or caseworker: a feed is read by its own organisation only.
    tasks = [asyncio.create_task(s.follow(host, int(port), issue_token(a, "officer", "bench-routing",
                                                                        settings=settings)))
             for a, s in subs.items()]  # fmt: skip
    producer = make_producer(bootstrap, settings)
    await producer.start()
    sent: dict[int, tuple[str, float]] = {}
    try:
        async with asyncio.timeout(300):
            while not all(s.open.is_set() for s in subs.values()):
                for task in tasks:
                    if task.done():
                        task.result()
                await asyncio.sleep(0.05)
        progress(f"{len(audiences)} streams open, one per audience")
        # One milestone to every audience first, not measured: every topic's partition assigned and read once.
        for n, audience in enumerate(audiences):
            await producer.send(milestone_topic(audience), milestone(n, run, audience).model_dump_json().encode(),
                                key=b"bench")  # fmt: skip
        await producer.flush()
        async with asyncio.timeout(300):
            while not all(n in subs[a].arrived for n, a in enumerate(audiences)):
                await asyncio.sleep(0.05)
        progress(f"every audience's first milestone arrived; {count} more at {rate:g}/s, round-robin")
        start = time.perf_counter()
        first = 100_000
        for n in range(count):
            audience = audiences[n % len(audiences)]
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
            await producer.send_and_wait(milestone_topic(audience),
                                         milestone(first + n, run, audience).model_dump_json().encode(),
                                         key=b"bench")  # fmt: skip
            sent[first + n] = (audience, time.perf_counter())
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline and not all(i in subs[a].arrived for i, (a, _) in sent.items()):
            await asyncio.sleep(0.1)
    finally:
        await _stop(producer, tasks)
    latencies = sorted(subs[a].arrived[i] - t for i, (a, t) in sent.items() if i in subs[a].arrived)
    # A milestone delivered to a stream of another audience would be a leak: counted, it must be zero.
    elsewhere = sum(1 for a, s in subs.items() for i in s.arrived if i in sent and sent[i][0] != a)

    def pct(p: float) -> float | None:
        return percentile_ms(latencies, p)

    return {"audiences": len(audiences), "milestones": len(sent), "delivered": len(latencies),
            "lost": len(sent) - len(latencies), "delivered_to_another_audience": elsewhere, "p50_ms": pct(0.5),
            "p99_ms": pct(0.99), "max_ms": round(latencies[-1] * 1000, 1) if latencies else None}  # fmt: skip


async def main(args: argparse.Namespace, base: str, bootstrap: str, settings: HarbourSettings) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    one = await fan_out(base, bootstrap, settings, 1, args.milestones, args.rate, 0, run)
    progress(f"1 subscriber: p50 {one['p50_ms']} ms, p99 {one['p99_ms']} ms, lost {one['lost']}")
    many = await fan_out(base, bootstrap, settings, args.subscribers, args.milestones, args.rate, 10_000, run)
    progress(f"{args.subscribers} subscribers: p50 {many['p50_ms']} ms, p99 {many['p99_ms']} ms, lost {many['lost']}")
    ratio = round(many["p99_ms"] / one["p99_ms"], 2) if many["p99_ms"] and one["p99_ms"] else None
    return {"bench": "audiences", "audience": AUDIENCE, "rate_per_s": args.rate, "baseline_one_subscriber": one,
            "fan_out": many, "p99_ratio_to_one": ratio, "target_p99_ms": TARGET_P99_S * 1000}  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.audiences", description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=500, help="concurrent SSE streams (default 500)")
    parser.add_argument("--milestones", type=int, default=100, help="milestones measured (default 100)")
    parser.add_argument("--rate", type=float, default=10.0, help="milestones a second (default 10)")
    parser.add_argument(
        "--audiences",
        type=int,
        default=1000,
        help="audience topics in all for the routing run (default 1000; 0: no routing run)",
    )
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="harbour-bench-") as tmp_name:
        tmp = Path(tmp_name)
        settings = HarbourSettings(var_dir=tmp)
        server = server_url(settings)
        with bench_broker(settings, tmp) as bootstrap:
            result = _with_feeds(args, settings, tmp, server, bootstrap)
            if args.audiences:
                result["routing"] = _routing(args, settings, tmp, server, bootstrap)
    emit(result)


def _routing(args: argparse.Namespace, settings: HarbourSettings, tmp: Path, server: str,
             bootstrap: str) -> dict[str, Any]:  # fmt: skip
    """Feeds with the organisations alone, then with ``--audiences`` audiences: the same round-robin, side by side."""
    found = {}
    for label, zones in (("baseline", []), ("many", zones_for(args.audiences))):
        zoned = settings.model_copy(update={"police_zones": zones})
        prefix = f"harbour_bench_rt_{uuid.uuid4().hex[:6]}_"
        env = {"HARBOUR_VAR_DIR": str(tmp), "HARBOUR_POLICE_ZONES": json.dumps(zones)}
        with service_process("feeds", server=server, bootstrap=bootstrap, tmp=tmp, prefix=prefix, env=env,
                             health_seconds=HEALTH_SECONDS) as base:  # fmt: skip
            run = uuid.uuid4().hex[:8]  # milestone ids of each run its own
            found[label] = asyncio.run(routing(base, bootstrap, zoned, zones, args.milestones, args.rate, run))
        progress(
            f"routing over {found[label]['audiences']} audiences: p99 {found[label]['p99_ms']} ms, "
            f"lost {found[label]['lost']}"
        )
    many, one = found["many"]["p99_ms"], found["baseline"]["p99_ms"]
    return {**found, "p99_ratio_to_baseline": round(many / one, 2) if many and one else None}


def _with_feeds(args: argparse.Namespace, settings: HarbourSettings, tmp: Path, server: str,
                bootstrap: str) -> dict[str, Any]:  # fmt: skip
    """The feeds service alone as a uvicorn process on ``bootstrap``, measured, stopped and its database dropped."""
    prefix = f"harbour_bench_aud_{uuid.uuid4().hex[:6]}_"
    with service_process("feeds", server=server, bootstrap=bootstrap, tmp=tmp, prefix=prefix,
                         env={"HARBOUR_VAR_DIR": str(tmp)}, health_seconds=HEALTH_SECONDS) as base:  # fmt: skip
        result = asyncio.run(main(args, base, bootstrap, settings))
    return result


if __name__ == "__main__":
    run()
