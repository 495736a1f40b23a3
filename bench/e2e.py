"""End to end: latency from a command's HTTP response to its milestone at a consumer of the audience topic.

    python -m bench.e2e [--rate 50] [--seconds 60] [--grace 15] [--base-url-intake URL --bootstrap HOST:PORT]

The command is a new referral by the federal police (``POST /referrals`` on intake, as ``police-federal``
officer). Each one causes exactly one milestone for the federal police: ``referral-received`` on
``milestones.police-federal.v1``, which carries the police's own file number. Every request gets a unique
file number, so an arrival is matched to its request without any pseudonym key. The consumer is a plain
aiokafka consumer (no group: the topic's partitions assigned, positioned at their end before the load starts).

The load is open-loop: request *i* leaves at ``start + i / rate`` whatever the previous ones are doing, so a
slow platform shows up as latency instead of quietly lowering the rate. Latency = arrival at the consumer
minus the moment the client had the ``201``; a milestone can arrive a hair before the response (the relay
is woken at commit, the response still travels), which counts as 0 ms. After the load, ``--grace`` seconds
for stragglers; whatever has not arrived then is ``lost`` (must be 0).

Without ``--base-url-intake`` the bench starts its own platform: a private Tansu broker on a free port
(``HARBOUR_KAFKA_BOOTSTRAP`` if set), every service as its own uvicorn process on free ports, each in a fresh
database ``harbour_bench_e2e_<run>_<service>`` on the usual PostgreSQL, dropped at the end. Private, so
that its consumer groups never take partitions from a platform someone else is running on this machine.

Progress goes to stderr; the last line on stdout is the JSON result.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench import cpu
from bench.common import emit, progress, server_url
from harbour.auth import ensure_dev_keys, issue_token
from harbour.db import database_url, drop_database
from harbour.kafka.topics import ensure_topics
from harbour.settings import REPO_ROOT, HarbourSettings, get_settings
from harbour_tools.infra import BrokerProcess, free_port, resolve_kafka
from milestones.topics import audience_topics
from schemas.audiences import milestone_topic

TARGET_P99_MS = 500
AUDIENCE = "police-federal"
HEALTH_SECONDS = 120.0  # cold start: databases, migrations, consumer groups, on a machine that is busy


@dataclass
class Tally:
    """Per request: when its 201 came back, and when its milestone arrived (perf_counter seconds)."""

    responded: dict[str, float] = field(default_factory=dict)
    arrived: dict[str, float] = field(default_factory=dict)
    round_trips_ms: list[float] = field(default_factory=list)  # request sent -> 201 received: the HTTP side
    # Where the time goes, per milestone (wall clock, one machine): stored -> produced by the relay (the
    # record's timestamp), and produced -> at the consumer.
    relay_ms: list[float] = field(default_factory=list)
    delivery_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    started: float = 0.0  # perf_counter when the load began: the curves count seconds from here

    def per_second(self, moments: list[float]) -> list[int]:
        """How many of ``moments`` fell in each second since the load began (the received-over-time curve)."""
        if not moments:
            return []
        counts = [0] * (int(max(moments) - self.started) + 1)
        for moment in moments:
            counts[max(0, int(moment - self.started))] += 1
        return counts

    def latencies_ms(self) -> list[float]:
        return sorted(max(0.0, self.arrived[k] - t) * 1000 for k, t in self.responded.items() if k in self.arrived)


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (no interpolation: p99 of 3000 is the 2970th value, a latency that happened)."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * p // 100))  # ceil(n * p / 100)
    return sorted_values[int(rank) - 1]


# --------------------------------------------------------------------------------------------- the platform


@dataclass
class Platform:
    intake: str
    bootstrap: str
    # Every process of the platform by name (each service, the broker when the bench started it): their CPU is
    # read from the kernel's accounting. Empty for a platform the bench did not start.
    pids: dict[str, int] = field(default_factory=dict)
    # The PostgreSQL server and the prefix of the platform's databases: the server's backends that serve them do
    # the platform's work too, on the same cores (empty for a platform the bench did not start).
    server: str = ""
    database_prefix: str = ""


async def backend_cpu(platform: Platform) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to one of the platform's databases, by pid.

    Read from /proc, so only for a server on this machine (else empty). A backend that ends during the stretch
    takes its CPU with it (the pools keep theirs open, so few do; the figure beside it counts them)."""
    if not platform.database_prefix:
        return {}
    conn = await asyncpg.connect(database_url(platform.server, "postgres"))
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE starts_with(datname, $1)",
                                platform.database_prefix)  # fmt: skip
    finally:
        await conn.close()
    return {row["pid"]: cpu.cpu_seconds(row["pid"]) for row in rows if _is_postgres(row["pid"])}


def _is_postgres(pid: int) -> bool:
    # A remote server's pid may name some other process here.
    try:
        return b"postgres" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def backend_figures(
    before: dict[int, float], after: dict[int, float], per: int, platform_s: float
) -> dict[str, object]:
    used = sum(max(0.0, seconds - before.get(pid, 0.0)) for pid, seconds in after.items())
    return {
        "postgres_cpu_ms_per_command": round(used * 1000 / per, 2) if per else None,
        "cpu_ms_per_command_with_postgres": round((used + platform_s) * 1000 / per, 2) if per else None,
        "postgres_backends": len(after),
        "postgres_backends_gone": len(set(before) - set(after)),
    }


def _wait_healthy(procs: dict[str, tuple[subprocess.Popen[bytes], str, Path]]) -> None:
    deadline = time.monotonic() + HEALTH_SECONDS
    pending = dict(procs)
    with httpx.Client(timeout=2.0) as client:
        while pending:
            for name, (proc, url, log) in list(pending.items()):
                if proc.poll() is not None:
                    tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
                    raise RuntimeError(f"{name} exited with code {proc.returncode}:\n{tail}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{url}/health").status_code == 200:
                        del pending[name]
                        progress(f"{name} up on {url}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{', '.join(pending)} not healthy within {HEALTH_SECONDS:.0f} s")
            time.sleep(0.3)


@contextmanager
def own_platform(settings: HarbourSettings, tmp: Path, code: Path = REPO_ROOT) -> Iterator[Platform]:
    """A private broker and every service as a process, each in a fresh database dropped afterwards. ``code``: the
    checkout the services run from (another commit's worktree, to measure it beside this one in the same run)."""
    names_and_factories = subprocess.run(
        [sys.executable, "-c", "from services import registry\n"
         "for n in registry.available(): print(n, registry.SERVICES[n])"],
        cwd=code, env={**os.environ, "PYTHONPATH": str(code)}, capture_output=True, text=True, check=True,
    ).stdout.split("\n")  # fmt: skip
    services = dict(line.split() for line in names_and_factories if line.strip())
    if code != REPO_ROOT:
        # The bench signs its callers' tokens with this checkout's development key (var/keys): the other checkout's
        # services must verify with the same one, or every command is a 401. On a fresh checkout it does not exist
        # until something signs a token: make it now, or there is nothing to copy.
        ensure_dev_keys(settings)
        shutil.copytree(settings.keys_dir, code / "var" / "keys", dirs_exist_ok=True)

    server = server_url(settings)
    broker: BrokerProcess | None = None
    if settings.kafka_bootstrap:
        bootstrap = resolve_kafka(settings)
        progress(f"broker from HARBOUR_KAFKA_BOOTSTRAP: {bootstrap}")
    else:
        broker = BrokerProcess(log_dir=tmp, log_name="tansu-e2e.log").start()
        bootstrap = broker.bootstrap
        progress(f"private Tansu broker on {bootstrap} (pid {broker.pid})")
    prefix = f"harbour_bench_e2e_{uuid.uuid4().hex[:6]}_"
    env = {**os.environ, "HARBOUR_DATABASE_URL": server, "HARBOUR_KAFKA_BOOTSTRAP": bootstrap,
           "HARBOUR_DATABASE_PREFIX": prefix, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(code),
           # The whole load comes from one organisation standing in for the many that refer: the per-caller
           # share (3 in flight per organisation and replica) would cap it near 20/s and measure that limit, not
           # the platform. The process-wide limit and queue (load shedding) stay as configured.
           "HARBOUR_MAX_IN_FLIGHT_PER_CALLER": os.environ.get("HARBOUR_MAX_IN_FLIGHT_PER_CALLER", "0")}  # fmt: skip
    procs: dict[str, tuple[subprocess.Popen[bytes], str, Path]] = {}
    try:
        for name, factory in services.items():
            port = free_port()
            log = tmp / f"{name}.log"
            command = [sys.executable, "-m", "uvicorn", "--factory", f"{factory}:create",
                       "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]  # fmt: skip
            with log.open("ab") as out:
                proc = subprocess.Popen(command, cwd=code, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT)  # fmt: skip
            procs[name] = (proc, f"http://127.0.0.1:{port}", log)
        progress(f"starting {', '.join(procs)} (databases {prefix}*, logs in {tmp})")
        _wait_healthy(procs)
        pids = {name: proc.pid for name, (proc, _, _) in procs.items()}
        if broker is not None and broker.pid is not None:
            pids["broker"] = broker.pid
        yield Platform(intake=procs["intake"][1], bootstrap=bootstrap, pids=pids, server=server, database_prefix=prefix)
    finally:
        for proc, _, _ in procs.values():
            if proc.poll() is None:
                proc.terminate()  # graceful: each service stops its relay and consumers
        for proc, _, _ in procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for name in procs:
            with contextlib.suppress(Exception):
                asyncio.run(drop_database(server, f"{prefix}{name}"))
        progress(f"services stopped, databases {prefix}* dropped")
        if broker is not None:
            broker.stop()


# --------------------------------------------------------------------------------------------- measuring


@asynccontextmanager
async def audience_consumer(bootstrap: str, tally: Tally, run: str) -> AsyncIterator[None]:
    """Records the arrival of every referral-received milestone of this run, from before the load to the end."""
    topic = milestone_topic(AUDIENCE)
    await ensure_topics(bootstrap, audience_topics([AUDIENCE]))  # already there when intake started; cheap
    # A short fetch wait: the broker answers a fetch at once when data is there, and the consumer asks again
    # soon after an empty one, so its own polling adds little to what is measured.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                fetch_max_wait_ms=20)  # fmt: skip
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the end offsets now, before any request of the run is sent
            await consumer.position(tp)
        marker = f"BENCH-{run}-"

        async def consume() -> None:
            while True:
                batch = await consumer.getmany(timeout_ms=100)
                now, wall = time.perf_counter(), time.time()
                for records in batch.values():
                    for record in records:
                        milestone = json.loads(record.value)
                        number = milestone.get("file_number") or ""
                        if number.startswith(marker) and milestone.get("milestone") == "referral-received":
                            if number not in tally.arrived:
                                tally.arrived[number] = now
                                stored = datetime.fromisoformat(milestone["recorded_at"]).timestamp()
                                tally.relay_ms.append((record.timestamp / 1000 - stored) * 1000)
                                tally.delivery_ms.append((wall - record.timestamp / 1000) * 1000)

        task = asyncio.create_task(consume())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        await consumer.stop()


IN_FLIGHT = 32  # concurrent requests at most (50/s at 200 ms each needs 10)
OFFICERS = 16


async def load(intake: str, rate: float, count: int, run: str, tally: Tally, first: int = 0) -> None:
    """``count`` referrals at ``rate`` per second, open-loop."""
    # Several officers, as a federal police would have (the per-caller share is per organisation: see own_platform).
    tokens = [f"Bearer {issue_token(AUDIENCE, 'officer', f'bench-e2e-{n}', settings=get_settings())}"
              for n in range(OFFICERS)]  # fmt: skip
    # Requests beyond IN_FLIGHT wait here, not in httpx's pool: its queue is scanned whole for every request
    # that completes, so a queue of hundreds (a platform falling behind) ate this process's CPU and the load
    # generator, not the platform, became what was measured.
    in_flight = asyncio.Semaphore(IN_FLIGHT)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(base_url=intake, timeout=30.0, limits=limits) as client:

        async def send(i: int) -> None:
            number = f"BENCH-{run}-{i:07d}"
            body = {"target_centre": "centre-surya", "region": "wallonia", "referrer_file_number": number,
                    "exploitation_types": ["labour-exploitation"],
                    "signal_ids": ["work-and-living-conditions.little-or-no-pay"]}  # fmt: skip
            try:
                async with in_flight:
                    sent = time.perf_counter()
                    response = await client.post("/referrals", json=body,
                                                 headers={"Authorization": tokens[i % OFFICERS]})  # fmt: skip
            except httpx.HTTPError as exc:
                tally.errors += 1
                tally.first_error = tally.first_error or f"{type(exc).__name__}: {exc}"
                return
            if response.status_code == 201:
                tally.responded[number] = time.perf_counter()
                tally.round_trips_ms.append((tally.responded[number] - sent) * 1000)
            else:
                tally.errors += 1
                tally.first_error = tally.first_error or f"{response.status_code}: {response.text[:200]}"

        tasks: list[asyncio.Task[None]] = []
        start = time.perf_counter()
        for n in range(count):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(first + n)))
        await asyncio.gather(*tasks)


async def report_progress(tally: Tally, every: float = 5.0) -> None:
    while True:
        await asyncio.sleep(every)
        lat = tally.latencies_ms()
        p99 = percentile(lat, 99)
        progress(f"sent {len(tally.responded)} (errors {tally.errors}), received {len(tally.arrived)}, "
                 f"p99 so far {p99:.0f} ms" if p99 is not None else "waiting for the first milestones")  # fmt: skip


async def measure(platform: Platform, args: argparse.Namespace, *, warm_up: bool = True) -> dict[str, object]:
    run = uuid.uuid4().hex[:8]
    count = round(args.rate * args.seconds)
    if warm_up:
        warm = Tally()
        async with audience_consumer(platform.bootstrap, warm, f"{run}W"):
            # Warm-up, not counted: connections, the relay's producer, the consumer's first fetches.
            await load(platform.intake, min(args.rate, 10.0), args.warmup, f"{run}W", warm)
            await _until_arrived(warm, 30.0)
        progress(f"warm-up: {len(warm.arrived)}/{len(warm.responded)} milestones arrived")
    tally = Tally()
    async with audience_consumer(platform.bootstrap, tally, run):
        progress(f"load: {count} referrals at {args.rate}/s for {args.seconds} s")
        ticker = asyncio.create_task(report_progress(tally))
        # The CPU of the whole stretch, from the first request until the last milestone (or the grace's end):
        # what the platform spent on these commands, idle polling included.
        with contextlib.ExitStack() as stack:
            sampling = (
                stack.enter_context(cpu.sampled(platform.pids, keep=args.profile_dir))
                if args.profile and platform.pids
                else None
            )
            before = cpu.snapshot(platform.pids)
            backends_before = await backend_cpu(platform)
            tally.started = time.perf_counter()
            try:
                await load(platform.intake, args.rate, count, run, tally)
                progress(f"load done: {len(tally.responded)} accepted, {tally.errors} errors; grace {args.grace} s")
                await _until_arrived(tally, args.grace)
            finally:
                ticker.cancel()
            after = cpu.snapshot(platform.pids)
            backends_after = await backend_cpu(platform)
    if tally.first_error:
        progress(f"first error: {tally.first_error}")
    latencies = tally.latencies_ms()
    received = sum(1 for k in tally.responded if k in tally.arrived)

    def ms(p: float) -> float | None:
        return _round(percentile(latencies, p))

    # Whether milestones flow as a stream or arrive in steps (issue 18: 20, then 132, 393, 643 at 10-15 s
    # intervals): the curves per second, the longest silence between two arrivals while any was still owed, and
    # how unevenly the seconds of the load received (coefficient of variation; 0 for a perfectly even stream).
    arrivals = sorted(tally.arrived.values())
    received_curve = tally.per_second(arrivals)
    load_seconds = max(1, int(args.seconds))
    in_load = received_curve[1:load_seconds] if len(received_curve) > 2 else received_curve
    mean = sum(in_load) / len(in_load) if in_load else 0.0
    spread = (sum((c - mean) ** 2 for c in in_load) / len(in_load)) ** 0.5 if in_load else 0.0
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]

    return {
        "bench": "e2e",
        "rate": args.rate,
        "seconds": args.seconds,
        "sent": len(tally.responded),
        "received": received,
        "lost": len(tally.responded) - received,
        "p50_ms": ms(50),
        "p95_ms": ms(95),
        "p99_ms": ms(99),
        "target_p99_ms": TARGET_P99_MS,
        "max_ms": ms(100),
        "http_errors": tally.errors,
        # Context, not the measured figure: how long the commands themselves took to answer.
        "http_p50_ms": _round(percentile(sorted(tally.round_trips_ms), 50)),
        "http_p99_ms": _round(percentile(sorted(tally.round_trips_ms), 99)),
        "relay_p50_ms": _round(percentile(sorted(tally.relay_ms), 50)),
        "relay_p99_ms": _round(percentile(sorted(tally.relay_ms), 99)),
        "delivery_p50_ms": _round(percentile(sorted(tally.delivery_ms), 50)),
        "delivery_p99_ms": _round(percentile(sorted(tally.delivery_ms), 99)),
        "longest_silence_ms": _round(max(gaps) * 1000) if gaps else None,
        "received_cv": round(spread / mean, 3) if mean else None,
        "accepted_per_second": tally.per_second(list(tally.responded.values())),
        "received_per_second": received_curve,
        **(cpu.split(before, after, sampling, received) if platform.pids else {}),
        **(
            backend_figures(
                backends_before, backends_after, received, sum(max(0.0, after[n] - before.get(n, 0.0)) for n in after)
            )
            if backends_after
            else {}
        ),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def _until_arrived(tally: Tally, grace: float) -> None:
    deadline = time.perf_counter() + grace
    while time.perf_counter() < deadline and any(k not in tally.arrived for k in tally.responded):
        await asyncio.sleep(0.1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="commands per second (default 50)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the load (default 60)")
    parser.add_argument("--grace", type=float, default=15.0, help="seconds to wait for stragglers (default 15)")
    parser.add_argument("--warmup", type=int, default=20, help="uncounted commands before the load (default 20)")
    parser.add_argument("--ramp", help="rates to try one after another, e.g. 10,20,40,80: finds the saturation rate "
                        "(the highest rate whose p99 stays within the target, nothing lost)")  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="sample every platform process with py-spy and "
                        "split its CPU by role (HTTP, append, relays, consumers, tracing export)")  # fmt: skip
    parser.add_argument("--profile-dir", type=Path, help="with --profile: keep each process's sampled stacks here")
    parser.add_argument("--base-url-intake", help="use a running platform's intake instead of starting one")
    parser.add_argument("--bootstrap", help="its Kafka bootstrap (default: HARBOUR_KAFKA_BOOTSTRAP or the local one)")
    parser.add_argument(
        "--code",
        help="run the services from this checkout (e.g. a worktree of an older commit), "
        "to measure it beside this one; the load and the accounting stay this checkout's",
    )
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0:
        parser.error("--rate and --seconds must be positive")
    try:
        args.rates = [float(r) for r in args.ramp.split(",")] if args.ramp else [args.rate]
    except ValueError:
        parser.error("--ramp takes rates separated by commas, e.g. 10,20,40")
    if any(r <= 0 for r in args.rates):
        parser.error("--ramp rates must be positive")
    return args


async def ramp(platform: Platform, args: argparse.Namespace) -> dict[str, object]:
    """Each rate in turn on the same platform; the first step alone warms up. One rate: that step's figures."""
    steps: list[dict[str, object]] = []
    for i, rate in enumerate(args.rates):
        args.rate = rate
        steps.append(await measure(platform, args, warm_up=i == 0))
        progress(f"{rate}/s: p99 {steps[-1]['p99_ms']} ms, lost {steps[-1]['lost']}, "
                 f"CPU {steps[-1].get('cpu_ms_per_command')} ms per command")  # fmt: skip
    if len(steps) == 1:
        return steps[0]
    saturation = None
    for step in steps:
        p99 = step["p99_ms"]
        if step["lost"] or step["http_errors"] or p99 is None or float(str(p99)) > TARGET_P99_MS:
            break
        saturation = step["rate"]

    def total(key: str) -> int:
        return sum(int(str(step[key])) for step in steps)

    return {"bench": "e2e", "ramp": args.rates, "saturation_rate_per_s": saturation, "target_p99_ms": TARGET_P99_MS,
            "steps": steps, "sent": total("sent"), "lost": total("lost"), "http_errors": total("http_errors"),
            "p99_ms": steps[-1]["p99_ms"]}  # fmt: skip


def run(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = get_settings()
    if args.base_url_intake:
        bootstrap = args.bootstrap or resolve_kafka(settings)
        progress(f"running platform: intake {args.base_url_intake}, broker {bootstrap}")
        result = asyncio.run(ramp(Platform(args.base_url_intake.rstrip("/"), bootstrap), args))
    else:
        code = Path(args.code).resolve() if args.code else REPO_ROOT
        with (
            tempfile.TemporaryDirectory(prefix="harbour-bench-e2e-") as tmp,
            own_platform(settings, Path(tmp), code) as p,
        ):
            progress(f"services run from {code}")
            result = asyncio.run(ramp(p, args))
    progress(f"p99 {result['p99_ms']} ms (target {TARGET_P99_MS}), lost {result['lost']}")
    emit(result)
    # A run that lost a milestone, or could not send, is a failed run even though it printed figures.
    if result["lost"] or result["http_errors"] or not result["sent"]:
        sys.exit(1)


if __name__ == "__main__":
    run()
