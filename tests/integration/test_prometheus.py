"""A real Prometheus over a running platform: every query of every Grafana panel returns data, and the alert rules load.

Services run in this process with the real broker and PostgreSQL (as in test_deploy_metrics), each served over
HTTP by uvicorn so that Prometheus scrapes their /metrics as in production. Prometheus is Debian's package
(``make tools``), started on a free port with its own data directory and a one-second scrape interval.

The request panels read the metrics the OpenTelemetry Collector's spanmetrics connector derives from the
services' server spans. No package registry this project can reach ships that collector, so a stand-in turns the
services' real spans into the series the connector exports (named from deploy/otel/collector.yaml as the unit
tests read it); Prometheus itself is never a stand-in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from prometheus_client import CollectorRegistry, Counter, Histogram, make_asgi_app

from harbour import telemetry, timers
from harbour.settings import REPO_ROOT
from harbour_tools import deploy
from harbour_tools.infra import free_port
from services.legal.app import DEFINITION as LEGAL
from tests.integration.test_deploy_metrics import PANTRY_WITH_TIMER, PING
from tests.support.harness import running_service
from tests.support.pantry_service import LARDER
from tests.support.waiting import wait_until
from tests.unit.test_deploy_stack import COLLECTOR, dashboards, load_yaml

pytestmark = pytest.mark.integration


class SpanMetrics(SpanProcessor):
    """What the collector's spanmetrics connector exports for the spans it receives, from its configuration."""

    def __init__(self) -> None:
        config = load_yaml(COLLECTOR)["connectors"]["spanmetrics"]
        prefix = config["namespace"].replace(".", "_")
        self.dimensions = [d["name"] for d in config["dimensions"]]
        labels = ["service_name", "span_name", "span_kind", "status_code"] + [d.replace(".", "_") for d in
                                                                                self.dimensions]  # fmt: skip
        buckets = [_seconds(b) for b in config["histogram"]["explicit"]["buckets"]]
        self.registry = CollectorRegistry()
        self.calls = Counter(f"{prefix}_calls", "spans", labels, registry=self.registry)
        self.duration = Histogram(f"{prefix}_duration_seconds", "span durations", labels, buckets=buckets,
                                  registry=self.registry)  # fmt: skip
        self.open = True

    def on_end(self, span: ReadableSpan) -> None:
        if not self.open or span.start_time is None or span.end_time is None:
            return  # the providers outlive this test (cached per service name): count nothing afterwards
        attributes = span.attributes or {}
        values = [str(span.resource.attributes.get("service.name", "")), span.name, f"SPAN_KIND_{span.kind.name}",
                  f"STATUS_CODE_{span.status.status_code.name}"]  # fmt: skip
        values += [str(attributes.get(d, "")) for d in self.dimensions]
        self.calls.labels(*values).inc()
        self.duration.labels(*values).observe((span.end_time - span.start_time) / 1e9)


def _seconds(text: str) -> float:
    value, unit = re.fullmatch(r"([0-9.]+)(ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) / (1000 if unit == "ms" else 1)


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """An ASGI app over HTTP on a free port (its lifespan is run by whoever made it)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return bool(server.started)

    await wait_until(started, timeout=10)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def prometheus(targets: dict[str, list[str]], data: Path) -> AsyncIterator[str]:
    """Debian's Prometheus on a free port, scraping ``targets`` (job: host:port) every second, with the rules."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: `make tools` installs Debian's prometheus package"
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(REPO_ROOT / deploy.ALERTS_FILE)],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": hosts}]} for job, hosts in targets.items()],
    }
    (data / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = data / "prometheus.log"
    with log_path.open("wb") as log:
        # Its own port and data directory: a Prometheus the machine may run on :9090 is neither read nor disturbed.
        proc = await asyncio.create_subprocess_exec(
            binary, f"--config.file={data / 'prometheus.yml'}", f"--storage.tsdb.path={data / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}", stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)  # fmt: skip
    try:
        async with httpx.AsyncClient(timeout=2) as client:

            async def ready() -> bool:
                assert proc.returncode is None, f"prometheus exited {proc.returncode}:\n{log_path.read_text()[-3000:]}"
                with contextlib.suppress(httpx.TransportError):
                    return (await client.get(f"{url}/-/ready")).status_code == 200
                return False

            await wait_until(ready, timeout=30, interval=0.1)
        yield url
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout=15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel, PromQL) for every target of every panel, Grafana's variables substituted."""
    found = []
    for name, board in dashboards().items():
        variables = {v["name"]: v.get("current", {}).get("value", ".*") for v in board["templating"]["list"]}
        for panel in board["panels"]:
            for target in panel["targets"]:
                found.append((name, panel["title"], substituted(target["expr"], variables)))
    return found


def substituted(expr: str, variables: dict[str, str]) -> str:
    builtins = {"__rate_interval": "1m", "__interval": "15s", "__range": "6h"}
    return re.sub(r"\$\{?(\w+)\}?", lambda m: {**builtins, **variables}.get(m.group(1), m.group(0)), expr)


async def query(client: httpx.AsyncClient, url: str, expr: str) -> list[dict[str, Any]]:
    response = await client.get(f"{url}/api/v1/query", params={"query": expr})
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", f"{expr}: {body}"
    return list(body["data"]["result"])


_OBSERVED: dict[str, Any] = {}


@pytest.fixture
async def observed(pg_server_url, running_broker, tmp_path_factory) -> dict[str, Any]:
    """The platform at work under Prometheus, once for this module (the broker fixture is per test)."""
    if not _OBSERVED:
        try:
            _OBSERVED.update(await _observe(pg_server_url, running_broker, tmp_path_factory.mktemp("prometheus")))
        except Exception as error:
            _OBSERVED["failed"] = error  # the other tests fail at once instead of running it all again
            raise
    if "failed" in _OBSERVED:
        pytest.fail(f"the platform run under Prometheus failed: {_OBSERVED['failed']!r}")
    return _OBSERVED


async def _observe(pg_server_url: str, running_broker: Any, data: Path) -> dict[str, Any]:
    """Every panel query's answer once all of them have data (or after a minute), and the rules as loaded."""
    queries = panel_queries()
    spans = SpanMetrics()
    bootstrap = running_broker.bootstrap
    shelf = f"prom-{uuid.uuid4().hex[:8]}"
    try:
        async with (
            running_service(PANTRY_WITH_TIMER, pg_server_url=pg_server_url, bootstrap=bootstrap) as pantry,
            running_service(LARDER, pg_server_url=pg_server_url, bootstrap=bootstrap) as larder,
            running_service(LEGAL, pg_server_url=pg_server_url, bootstrap=bootstrap) as legal,
            served(pantry.app) as pantry_at,
            served(larder.app) as larder_at,
            served(legal.app) as legal_at,
            served(make_asgi_app(spans.registry)) as collector_at,
            httpx.AsyncClient(timeout=10) as client,
        ):
            # The providers are cached per service name for the process: the stand-in is added to them directly.
            for svc in (pantry, larder, legal):
                telemetry.tracer_provider(svc.runtime.name, svc.settings).add_span_processor(spans)
            targets = {"harbour": [pantry_at, larder_at, legal_at], "otel-collector-spanmetrics": [collector_at]}
            async with prometheus(targets, data) as url:

                async def all_up() -> bool:
                    return len(await query(client, url, "up == 1")) == sum(len(hosts) for hosts in targets.values())

                # Scraped before the work: the counters' first samples are the values before anything happened.
                await wait_until(all_up, timeout=30)
                await _work(pantry, larder, shelf)
                await _fail_twice(pantry.app, pantry_at, client, url)
                # A service that answers, and never with a server error: its 5xx line is zero, not missing.
                assert (await legal.client.get("/cases/case-prom/residence")).status_code == 401
                legal_rate = f'rate(traces_span_metrics_calls_total{{service_name="{LEGAL.name}"}}[5m])'

                async def legal_scraped_twice() -> bool:
                    return bool(await query(client, url, legal_rate))

                await wait_until(legal_scraped_twice, timeout=20)
                started = time.monotonic()
                answers: dict[str, list[dict[str, Any]]] = {}

                async def all_answer() -> bool:
                    answers.update({expr: await query(client, url, expr) for _, _, expr in queries})
                    return all(answers.values())

                with contextlib.suppress(TimeoutError):
                    await wait_until(all_answer, timeout=60, interval=0.5)
                print(f"{len(queries)} panel queries, all answered {time.monotonic() - started:.1f}s after the work")
                response = await client.get(f"{url}/api/v1/rules", params={"type": "alert"})
                assert response.status_code == 200, response.text
                groups = response.json()["data"]["groups"]
    finally:
        spans.open = False
    return {"queries": queries, "answers": answers, "rules": {r["name"]: r for g in groups for r in g["rules"]}}


async def test_every_query_of_every_grafana_panel_returns_data_from_a_real_prometheus(observed):
    queries = observed["queries"]
    assert len(queries) >= 14 and not any("$" in expr for _, _, expr in queries)
    empty = [(board, title, expr) for board, title, expr in queries if not observed["answers"][expr]]
    assert not empty, "panels whose query returns nothing:\n" + "\n".join(
        f"{board} · {title}: {expr}" for board, title, expr in empty
    )


def answer(observed: dict[str, Any], title: str) -> list[dict[str, Any]]:
    (expr,) = [expr for _, t, expr in observed["queries"] if t == title]
    return list(observed["answers"][expr])


async def test_the_first_dead_letter_after_a_start_shows_on_its_panel(observed):
    letters = answer(observed, "Dead letters (last hour) per topic")
    counted = {(s["metric"]["service"], s["metric"]["topic"]): float(s["value"][1]) for s in letters}
    assert counted[(LARDER.name, "pantry.events.v1")] > 0, counted


async def test_the_error_panels_show_server_errors_zero_for_a_service_without_and_each_refused_status(observed):
    errors = {
        s["metric"]["service_name"]: float(s["value"][1]) for s in answer(observed, "Server errors (5xx) per service")
    }
    assert errors[PANTRY_WITH_TIMER.name] > 0 and errors[LEGAL.name] == 0, errors
    refused = answer(observed, "Refused requests (4xx) per service and status")
    # Present, not necessarily above zero: a series first seen at 1 has no earlier sample for rate() to compare.
    statuses = {(s["metric"]["service_name"], s["metric"].get("http_status_code")) for s in refused}
    assert {(PANTRY_WITH_TIMER.name, "422"), (LEGAL.name, "401")} <= statuses, refused


async def test_prometheus_loads_every_alert_rule_and_evaluates_it(observed):
    rules = observed["rules"]
    assert set(rules) == {a.name for a in deploy.ALERTS}
    for name, rule in rules.items():
        assert rule["health"] == "ok", f"{name}: {rule.get('lastError')}"
        assert rule["lastEvaluation"] > "2000", f"{name} was never evaluated"


async def _work(pantry, larder, shelf: str) -> None:
    """Appends, a relay, a consumer, a dead letter, a timer, accepted and refused requests: as in the metrics test."""
    headers = pantry.token("centre-payoke", "caseworker")
    for item in ("rice", "poison"):
        response = await pantry.client.post(f"/shelves/{shelf}/stock", json={"item": item, "count": 2},
                                            headers=headers)  # fmt: skip
        assert response.status_code == 200, response.text
    refused = await pantry.client.post(f"/shelves/{shelf}/stock", json={"item": "", "count": 1}, headers=headers)
    assert refused.status_code == 422
    async with pantry.runtime.pool.acquire() as conn:
        await timers.schedule(conn, key=f"{shelf}-ping", kind=PING, case_id=f"case-{shelf}",
                              due_at=datetime.now(UTC) - timedelta(seconds=1))  # fmt: skip

    async def worked() -> bool:
        done = larder.runtime.consumers[0]
        return done.handled >= 1 and done.dead_lettered >= 1

    await wait_until(worked, timeout=60)


async def _fail_twice(app: Any, at: str, client: httpx.AsyncClient, url: str) -> None:
    """Two server errors over real HTTP, with a scrape between them: rate() needs an increase it can see."""

    async def fails() -> None:
        raise RuntimeError("a test route that always fails")

    app.add_api_route("/test/fails", fails, methods=["GET"])
    failed = 'traces_span_metrics_calls_total{http_route="/test/fails", http_status_code="500"}'
    assert (await client.get(f"http://{at}/test/fails")).status_code == 500

    async def scraped(count: int) -> bool:
        return bool(await query(client, url, f"sum({failed}) >= {count}"))

    await wait_until(lambda: scraped(1), timeout=20)
    assert (await client.get(f"http://{at}/test/fails")).status_code == 500
    await wait_until(lambda: scraped(2), timeout=20)
