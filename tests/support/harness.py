"""Run a real service in the test process: its own fresh database, the real broker, an HTTP client."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from harbour.auth import issue_token
from harbour.clock import Clock
from harbour.db import database_url, drop_database
from harbour.service import Endpoints, ServiceDefinition, ServiceRuntime, create_app
from harbour.settings import HarbourSettings
from tests.support.templates import create_migrated, migrations_of


@dataclass
class RunningService:
    app: FastAPI
    runtime: ServiceRuntime
    client: httpx.AsyncClient
    settings: HarbourSettings

    def token(self, org: str, role: str, user: str = "tester") -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(org, role, user, settings=self.settings)}"}


# Short consumer-group timeouts. Tansu answers a consumer's first JoinGroup only after about half its session
# timeout, so with the production 10 s every service start waited 5 s per group (most of a test module's setup);
# 2 s forms a group in about 1 s (3 s took 2; below 2 s nothing is gained: a second is the floor either way), and a
# heartbeat every 200 ms keeps a member of a busy test process well inside it.
QUICK_GROUPS = {"consumer_session_timeout_ms": 2000, "consumer_heartbeat_ms": 200,
                "consumer_rebalance_timeout_ms": 1000}  # fmt: skip


def fast_settings(**overrides: object) -> HarbourSettings:
    # Pools of 4, not 8: tests run several services per worker, several workers at once, on a server other suites
    # share (max_connections 100); test_connections_idle checks the production pools.
    # The relays and timers poll as often as in production (1 s), not every 0.2 s: a relay wakes on its store's
    # notification, and a poll found nothing in most rounds (2,390 of 2,941 relay rounds in four modules). An idle
    # legal service cost 3.7-4.2 % of a core (itself, PostgreSQL, the broker) at 0.2 s and 2.8 % at 1 s; the suite's
    # CPU went from 437 s to 425 s and 420 s (two runs), its time did not move.
    base = {"relay_poll_seconds": 1.0, "timer_poll_seconds": 1.0, "consumer_max_attempts": 2, "db_pool_max": 4,
            # Load shedding off (0: no limit, no deadline) unless a test sets it: tests race many commands of one
            # caller on purpose, on a machine other suites load; tests/integration/test_load_shedding.py sets it.
            "max_in_flight": 0, "max_in_flight_per_caller": 0, "request_deadline_seconds": 0,
            **QUICK_GROUPS}  # fmt: skip
    base.update(overrides)
    return HarbourSettings(**base)  # type: ignore[arg-type]


@asynccontextmanager
async def running_service(
    definition: ServiceDefinition,
    *,
    pg_server_url: str,
    bootstrap: str,
    clock: Clock | None = None,
    settings: HarbourSettings | None = None,
    background: bool = True,
    database: str | None = None,
    keep_database: bool = False,
) -> AsyncIterator[RunningService]:
    settings = settings or fast_settings()
    if not settings.consumer_group_suffix:
        # A group of its own on the shared session broker: a service of an earlier test that is still leaving
        # its group must not hold this one's consumers in a rebalance.
        settings = settings.model_copy(update={"consumer_group_suffix": f".{uuid.uuid4().hex[:8]}"})
    name = database or f"harbour_test_{definition.name}_{uuid.uuid4().hex[:8]}"
    endpoints = Endpoints(database_url(pg_server_url, name), bootstrap)
    # A copy of the migrated template (unless the test's database exists already): the service's own migrate at
    # start finds nothing to apply.
    await create_migrated(pg_server_url, name, migrations_of(definition.name, definition.migrations))
    app = create_app(definition, settings=settings, clock=clock, endpoints=endpoints, background=background)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=f"http://{definition.name}") as client:
                yield RunningService(app, app.state.runtime, client, settings)
    finally:
        if not keep_database:
            await drop_database(pg_server_url, name)


@asynccontextmanager
async def running_services(
    starts: Mapping[str, AbstractAsyncContextManager[RunningService]],
) -> AsyncIterator[dict[str, RunningService]]:
    """Several services started together and stopped together: name -> service, in the order given.

    One after another, a platform of five waited five times for its consumer groups to form (seconds each);
    together, it waits about once. Each service runs in a task of its own that enters and leaves its context, as
    a context must be left by the task that entered it. A service that fails to start fails the caller.
    """
    ready: dict[str, RunningService] = {}
    started = {name: asyncio.Event() for name in starts}
    stop = asyncio.Event()

    async def hold(name: str, start: AbstractAsyncContextManager[RunningService]) -> None:
        async with start as service:
            ready[name] = service
            started[name].set()
            await stop.wait()

    tasks = {name: asyncio.create_task(hold(name, start), name=f"service:{name}") for name, start in starts.items()}

    async def started_or_failed(name: str) -> None:
        waiter = asyncio.create_task(started[name].wait())
        await asyncio.wait({waiter, tasks[name]}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if not started[name].is_set():
            tasks[name].result()  # the error it failed to start with

    try:
        await asyncio.gather(*(started_or_failed(name) for name in starts))
        yield {name: ready[name] for name in starts}
    finally:
        stop.set()
        outcomes = await asyncio.gather(*tasks.values(), return_exceptions=True)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    if errors:
        raise errors[0]
