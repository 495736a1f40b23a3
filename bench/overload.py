"""Overload: intake offered four times what it completes, and what load shedding makes of it.

    python -m bench.overload [--factor 4] [--seconds 15] [--capacity-seconds 8] [--after 10] [--callers 4]

Intake runs as its own uvicorn process (its settings as the environment gives them: the defaults unless
``HARBOUR_MAX_IN_FLIGHT`` etc. are set), on a free port, in a fresh database dropped at the end, with a private
Tansu broker (or ``HARBOUR_KAFKA_BOOTSTRAP``). The command is a new referral (``POST /referrals``) by police
officers of ``--callers`` organisations, taken in turn.

1. **capacity**, measured in the same run: closed loop, each caller keeping as many referrals in flight as its
   share allows, for ``--capacity-seconds``; the rate of 201s is what intake completes (``completed_per_s``).
2. **before**: open loop at half that rate for 5 s: the normal latency (``before_p50_ms``/``before_p99_ms``).
3. **overload**: open loop at ``--factor`` × capacity for ``--seconds``: offered, admitted (201), shed (429 and
   503, each with ``Retry-After``), anything else (errors: must be 0); p50/p99 of the admitted requests.
4. **after**: open loop at half the capacity for ``--after`` seconds: p50/p99 over the first 5 s and over the
   rest, and ``recovered_after_s``: how long after the overload ended until a whole second of requests is
   back under 1.5 × the normal p99 (at least the normal p99 + 50 ms) and not shed.

Open loop: request *i* leaves at ``start + i / rate`` whatever the others are doing, so a server that queues
shows it as latency. Latency is measured at the client (send to response). Targets: p99 of admitted requests
under 1 s during the overload, back to normal within 5 s after. Progress on stderr; the last line on stdout is
the JSON result.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import bench_broker, emit, progress, server_url, service_process
from bench.e2e import percentile
from harbour.auth import issue_token
from harbour.settings import HarbourSettings, get_settings

TARGET_P99_MS = 1000
TARGET_RECOVERY_S = 5.0
HEALTH_SECONDS = 120.0
CALLERS = ["police-federal", "police-zone-antwerp", "police-zone-gent", "police-zone-liege", "police-zone-namur",
           "police-zone-leuven", "police-zone-mons", "police-zone-brugge"]  # fmt: skip


@dataclass
class Phase:
    name: str
    started: float = 0.0
    ended: float = 0.0
    offered: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    first_error: str | None = None
    # (sent at, latency ms, status) of every answered request
    answers: list[tuple[float, float, int]] = field(default_factory=list)
    shed_without_retry_after: int = 0

    def admitted_ms(self, since: float | None = None, until: float | None = None) -> list[float]:
        return sorted(ms for at, ms, status in self.answers if status == 201
                      and (since is None or at >= since) and (until is None or at < until))  # fmt: skip


@contextmanager
def intake_process(settings: HarbourSettings, tmp: Path) -> Iterator[str]:
    server = server_url(settings)
    with bench_broker(settings, tmp) as bootstrap:
        yield from _intake_on(settings, tmp, server, bootstrap)


def _intake_on(settings: HarbourSettings, tmp: Path, server: str, bootstrap: str) -> Iterator[str]:
    prefix = f"harbour_bench_overload_{uuid.uuid4().hex[:6]}_"
    with service_process("intake", server=server, bootstrap=bootstrap, tmp=tmp, prefix=prefix,
                         args=("--no-access-log",), health_seconds=HEALTH_SECONDS) as url:  # fmt: skip
        yield url


class RawClient:
    """Keep-alive HTTP/1.1 over plain asyncio streams: a load generator that costs next to nothing per request.

    httpx costs about a millisecond of CPU per request (and scans its pool queue on every response): on two
    cores shared with the service, at a hundred requests a second, it was the load generator's own event loop
    that queued requests, and that wait was measured as the service's latency.
    """

    def __init__(self, url: str) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        reused = bool(self._idle)
        if reused:
            reader, writer = self._idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\n{head}\r\n".encode() + body)  # fmt: skip
            raw = await reader.readuntil(b"\r\n\r\n")
            lines = raw.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            answer = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            content = await reader.readexactly(int(answer.get("content-length", "0")))
        except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
            writer.close()
            # The server had closed this idle connection (its keep-alive timeout): not an answer, send it anew.
            if reused and not getattr(exc, "partial", b""):
                return await self.post(path, body, headers)
            raise
        except BaseException:
            writer.close()
            raise
        if answer.get("connection", "").lower() == "close":
            writer.close()
        else:
            self._idle.append((reader, writer))
        return status, answer, content

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


class Load:
    def __init__(self, client: RawClient, callers: list[str], run: str) -> None:
        settings = get_settings()
        self.client = client
        self.headers = [{"Authorization": f"Bearer {issue_token(org, 'officer', 'bench-overload', settings=settings)}"}
                        for org in callers]  # fmt: skip
        self.run = run
        self.sent = 0

    async def send(self, phase: Phase) -> int | None:
        i = self.sent
        self.sent += 1
        phase.offered += 1
        body = {"target_centre": "centre-surya", "region": "wallonia",
                "referrer_file_number": f"OVERLOAD-{self.run}-{i:07d}", "exploitation_types": ["labour-exploitation"],
                "signal_ids": ["work-and-living-conditions.little-or-no-pay"]}  # fmt: skip
        sent = time.perf_counter()
        try:
            status, headers, content = await self.client.post("/referrals", json.dumps(body).encode(),
                                                              self.headers[i % len(self.headers)])  # fmt: skip
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            phase.errors += 1
            phase.first_error = phase.first_error or f"{type(exc).__name__}: {exc}"
            return None
        phase.answers.append((sent, (time.perf_counter() - sent) * 1000, status))
        phase.statuses[status] += 1
        if status in (429, 503):
            if "retry-after" not in headers:
                phase.shed_without_retry_after += 1
        elif status != 201:
            phase.errors += 1
            phase.first_error = phase.first_error or f"{status}: {content[:200]!r}"
        return status

    async def open_loop(self, phase: Phase, rate: float, seconds: float) -> None:
        tasks: list[asyncio.Task[int | None]] = []
        phase.started = start = time.perf_counter()
        count = int(rate * seconds)
        for n in range(count):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.send(phase)))
        phase.ended = time.perf_counter()
        await asyncio.gather(*tasks)

    async def closed_loop(self, phase: Phase, workers: int, seconds: float) -> None:
        phase.started = time.perf_counter()
        stop = phase.started + seconds

        async def worker() -> None:
            while time.perf_counter() < stop:
                if await self.send(phase) in (429, 503):
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(worker() for _ in range(workers)))
        phase.ended = time.perf_counter()


def _ms(values: list[float], p: float) -> float | None:
    value = percentile(values, p)
    return None if value is None else round(value, 1)


def _recovered_after(after: Phase, normal_p99: float) -> float | None:
    """Seconds from the end of the overload until a whole second of requests is back to normal (and unshed)."""
    bound = max(normal_p99 * 1.5, normal_p99 + 50)
    second = 0
    while after.started + second < after.ended:
        since, until = after.started + second, after.started + second + 1
        window = [(ms, status) for at, ms, status in after.answers if since <= at < until]
        if window and all(status == 201 for _, status in window):
            p99 = percentile(sorted(ms for ms, _ in window), 99)
            if p99 is not None and p99 <= bound:
                return float(second)
        second += 1
    return None


async def measure(url: str, args: argparse.Namespace) -> dict[str, object]:
    settings = get_settings()
    callers = CALLERS[: args.callers]
    client = RawClient(url)
    try:
        load = Load(client, callers, uuid.uuid4().hex[:8])
        warm = Phase("warm-up")
        await load.closed_loop(warm, 2, 2.0)

        capacity = Phase("capacity")
        share = settings.max_in_flight_per_caller or settings.max_in_flight or 8
        workers = min(share * len(callers), settings.max_in_flight or share * len(callers))
        await load.closed_loop(capacity, workers, args.capacity_seconds)
        completed = capacity.statuses[201] / (capacity.ended - capacity.started)
        progress(f"capacity: {completed:.1f} referrals/s completed with {workers} in flight "
                 f"(p50 {_ms(capacity.admitted_ms(), 50)} ms, p99 {_ms(capacity.admitted_ms(), 99)} ms)")  # fmt: skip

        before = Phase("before")
        await load.open_loop(before, completed / 2, 5.0)
        normal_p99 = percentile(before.admitted_ms(), 99) or 0.0
        progress(f"before: {before.offered} at {completed / 2:.1f}/s, p50 {_ms(before.admitted_ms(), 50)} ms, "
                 f"p99 {_ms(before.admitted_ms(), 99)} ms, statuses {dict(before.statuses)}")  # fmt: skip

        overload = Phase("overload")
        offered_rate = completed * args.factor
        await load.open_loop(overload, offered_rate, args.seconds)
        shed = overload.statuses[429] + overload.statuses[503]
        progress(f"overload: offered {overload.offered} at {offered_rate:.1f}/s, admitted {overload.statuses[201]}, "
                 f"shed {shed} (429: {overload.statuses[429]}, 503: {overload.statuses[503]}), errors "
                 f"{overload.errors}; admitted p50 {_ms(overload.admitted_ms(), 50)} ms, "
                 f"p99 {_ms(overload.admitted_ms(), 99)} ms")  # fmt: skip

        after = Phase("after")
        await load.open_loop(after, completed / 2, args.after)
        first5 = after.admitted_ms(until=after.started + 5)
        rest = after.admitted_ms(since=after.started + 5)
        recovered = _recovered_after(after, normal_p99)
        progress(f"after: p50/p99 first 5 s {_ms(first5, 50)}/{_ms(first5, 99)} ms, then {_ms(rest, 50)}/"
                 f"{_ms(rest, 99)} ms; recovered after {recovered} s; statuses {dict(after.statuses)}")  # fmt: skip
    finally:
        client.close()

    p99_overload = percentile(overload.admitted_ms(), 99)
    phases = (warm, capacity, before, overload, after)
    return {
        "bench": "overload",
        "limits": {
            "max_in_flight": settings.max_in_flight,
            "per_caller": settings.max_in_flight_per_caller,
            "max_queued": settings.max_queued,
            "queue_wait_s": settings.queue_wait_seconds,
            "deadline_s": settings.request_deadline_seconds,
            "db_pool_max": settings.db_pool_max,
        },
        "callers": len(callers),
        "completed_per_s": round(completed, 1),
        "before_p50_ms": _ms(before.admitted_ms(), 50),
        "before_p99_ms": _ms(before.admitted_ms(), 99),
        "offered_per_s": round(offered_rate, 1),
        "offered": overload.offered,
        "admitted": overload.statuses[201],
        "shed": shed,
        "shed_429": overload.statuses[429],
        "shed_503": overload.statuses[503],
        "shed_without_retry_after": sum(p.shed_without_retry_after for p in phases),
        "errors": sum(p.errors for p in phases),
        "first_error": next((p.first_error for p in phases if p.first_error), None),
        "admitted_per_s": round(overload.statuses[201] / args.seconds, 1),
        "overload_p50_ms": _ms(overload.admitted_ms(), 50),
        "overload_p99_ms": _ms(overload.admitted_ms(), 99),
        "after_first_5s_p50_ms": _ms(first5, 50),
        "after_first_5s_p99_ms": _ms(first5, 99),
        "after_rest_p50_ms": _ms(rest, 50),
        "after_rest_p99_ms": _ms(rest, 99),
        "after_shed": after.statuses[429] + after.statuses[503],
        "recovered_after_s": recovered,
        "target_p99_ms": TARGET_P99_MS,
        "target_recovery_s": TARGET_RECOVERY_S,
        "met": p99_overload is not None
        and p99_overload < TARGET_P99_MS
        and recovered is not None
        and recovered <= TARGET_RECOVERY_S,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.overload", description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=float, default=4.0, help="offered rate / completed rate")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the overload")
    parser.add_argument("--capacity-seconds", type=float, default=8.0)
    parser.add_argument("--after", type=float, default=10.0, help="seconds of normal load after the overload")
    parser.add_argument("--callers", type=int, default=4, help=f"organisations sending (at most {len(CALLERS)})")
    parser.add_argument("--base-url", default=None, help="a running intake instead of a private one")
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.base_url:
        emit(asyncio.run(measure(args.base_url, args)))
        return
    with (
        tempfile.TemporaryDirectory(prefix="harbour-bench-overload-") as tmp,
        intake_process(get_settings(), Path(tmp)) as url,
    ):
        result = asyncio.run(measure(url, args))
    emit(result)


if __name__ == "__main__":
    run()
