"""Run a real service in the test process: its own fresh database, the real broker, an HTTP client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from harbour.auth import issue_token
from harbour.clock import Clock
from harbour.db import database_url, drop_database
from harbour.service import Endpoints, ServiceDefinition, ServiceRuntime, create_app
from harbour.settings import HarbourSettings


@dataclass
class RunningService:
    app: FastAPI
    runtime: ServiceRuntime
    client: httpx.AsyncClient
    settings: HarbourSettings

    def token(self, org: str, role: str, user: str = "tester") -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(org, role, user, settings=self.settings)}"}


def fast_settings(**overrides: object) -> HarbourSettings:
    base = {"relay_poll_seconds": 0.2, "timer_poll_seconds": 0.2, "consumer_max_attempts": 2,
            # Load shedding off (0: no limit, no deadline) unless a test sets it: tests race many commands of one
            # caller on purpose, on a machine other suites load; tests/integration/test_load_shedding.py sets it.
            "max_in_flight": 0, "max_in_flight_per_caller": 0, "request_deadline_seconds": 0}  # fmt: skip
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
    app = create_app(definition, settings=settings, clock=clock, endpoints=endpoints, background=background)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=f"http://{definition.name}") as client:
                yield RunningService(app, app.state.runtime, client, settings)
    finally:
        if not keep_database:
            await drop_database(pg_server_url, name)
