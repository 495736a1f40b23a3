"""The dashboards watch what running services really export: start services, make them work, scrape /metrics."""

from __future__ import annotations

import dataclasses
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from harbour import telemetry, timers
from harbour.settings import HarbourSettings
from services.legal.app import DEFINITION as LEGAL
from tests.support.harness import running_service, running_services
from tests.support.pantry_service import LARDER, PANTRY
from tests.support.waiting import wait_until
from tests.unit.test_deploy_stack import COLLECTOR, dashboard_metrics, load_yaml

PING = "test.deploy-ping"


async def _ping(ctx, timer) -> None:
    return None  # firing is what is counted (harbour_timers_fired_total)


# The pantry with one timer kind, so that a timer fires in this test too.
PANTRY_WITH_TIMER = dataclasses.replace(PANTRY, timer_handlers={PING: _ping})


def sampled(exposition: str) -> set[str]:
    """Names that have at least one sample line (a labelled metric never used has only HELP/TYPE lines)."""
    return {m.group(1) for m in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )", exposition, flags=re.M)}


_SCRAPED: dict[str, object] = {}


@pytest.fixture
async def scraped(pg_server_url, running_broker) -> dict[str, object]:
    """Two services at work: stock (relay, appends), a poison message (dead letter), a consumer, a timer.

    Done once for this module's tests (the broker fixture is per test, so the result is kept here instead).
    """
    if not _SCRAPED:
        _SCRAPED.update(await _work_and_scrape(pg_server_url, running_broker))
    return _SCRAPED


async def _work_and_scrape(pg_server_url, running_broker) -> dict[str, object]:
    spans = InMemorySpanExporter()
    bootstrap = running_broker.bootstrap
    shelf = f"deploy-{uuid.uuid4().hex[:8]}"
    starts = {
        "pantry": running_service(PANTRY_WITH_TIMER, pg_server_url=pg_server_url, bootstrap=bootstrap),
        "larder": running_service(LARDER, pg_server_url=pg_server_url, bootstrap=bootstrap),
        # A real publishing service: its milestone relay and the legal gauges are on the dashboards too.
        "legal": running_service(LEGAL, pg_server_url=pg_server_url, bootstrap=bootstrap),
    }
    async with running_services(starts) as started:
        pantry, larder, legal = started["pantry"], started["larder"], started["legal"]
        # The provider is cached per service name for the process: add this test's exporter to it directly.
        telemetry.tracer_provider(PANTRY.name, pantry.settings).add_span_processor(SimpleSpanProcessor(spans))
        headers = pantry.token("centre-payoke", "caseworker")
        for item in ("rice", "poison"):
            response = await pantry.client.post(f"/shelves/{shelf}/stock", json={"item": item, "count": 2},
                                                headers=headers)  # fmt: skip
            assert response.status_code == 200, response.text
        assert (await pantry.client.post(f"/shelves/{shelf}/stock", json={"item": "", "count": 1},
                                         headers=headers)).status_code == 422  # fmt: skip
        async with pantry.runtime.pool.acquire() as conn:
            await timers.schedule(conn, key=f"{shelf}-ping", kind=PING, case_id=f"case-{shelf}",
                                  due_at=datetime.now(UTC) - timedelta(seconds=1))  # fmt: skip

        async def worked() -> bool:
            done = larder.runtime.consumers[0]
            return (
                done.handled >= 1
                and done.dead_lettered >= 1
                and await pantry.runtime.relay.checkpoint() == (await pantry.runtime.store.head())
            )

        await wait_until(worked, timeout=60)
        async with pantry.runtime.pool.acquire() as conn:
            await wait_until(lambda: _fired(conn, f"{shelf}-ping"), timeout=20)
        texts = [(await svc.client.get("/metrics")).text for svc in (pantry, larder, legal)]
    return {"samples": set().union(*(sampled(t) for t in texts)), "spans": spans.get_finished_spans()}


async def _fired(conn, key: str) -> bool:
    timer = await timers.get_timer(conn, key)
    return timer is not None and timer.fired_at is not None


def harbour_dashboard_metrics() -> set[str]:
    return {m for m in dashboard_metrics() if m.startswith("harbour_")}


async def test_every_service_metric_a_dashboard_uses_is_exported_by_a_running_service(scraped):
    wanted = harbour_dashboard_metrics()
    assert len(wanted) >= 6
    missing = wanted - scraped["samples"]
    assert not missing, f"dashboards use metrics no running service exports: {sorted(missing)}"


async def test_consumer_lag_is_exported_by_a_running_consumer(scraped):
    assert "harbour_consumer_lag_messages" in scraped["samples"]


async def test_server_spans_carry_the_attributes_the_collector_turns_into_request_metrics(scraped):
    dimensions = [d["name"] for d in load_yaml(COLLECTOR)["connectors"]["spanmetrics"]["dimensions"]]
    server = [s for s in scraped["spans"] if s.kind == SpanKind.SERVER]
    assert server, "no server span: the request dashboard would stay empty"
    for span in server:
        for dimension in dimensions:
            assert dimension in span.attributes, f"{span.name} has no {dimension}"
    assert {span.attributes["http.status_code"] for span in server} >= {200, 422}
    assert all("{" in span.attributes["http.route"] for span in server)  # the template, never the shelf id


def test_the_services_can_be_configured_to_authenticate_to_kafka():
    awaited = {"kafka_security_protocol", "kafka_sasl_mechanism", "kafka_sasl_username", "kafka_sasl_password"}
    assert awaited <= set(HarbourSettings.model_fields)
