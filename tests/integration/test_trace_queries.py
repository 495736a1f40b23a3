"""A span per SQL statement only when asked for (HARBOUR_TRACE_QUERIES), and never with a statement's values.

Off by default: a command's, a relay batch's and a consumed message's spans time the step, and the statement spans
of every step made span creation and export a large share of each service's CPU (bench/README.md).
"""

from __future__ import annotations

import uuid

import asyncpg
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from harbour import telemetry
from harbour.db import database_url
from harbour.settings import HarbourSettings


async def _query_with(marker: str, pg_server_url: str, trace_queries: bool) -> list:
    spans = InMemorySpanExporter()
    settings = HarbourSettings(trace_files=False, trace_queries=trace_queries)
    provider = telemetry.tracer_provider(f"queries-{uuid.uuid4().hex[:8]}", settings)  # a provider of its own
    provider.add_span_processor(SimpleSpanProcessor(spans))
    conn = await asyncpg.connect(database_url(pg_server_url, "postgres"))
    try:
        assert await conn.fetchval("SELECT $1::text", marker) == marker
    finally:
        await conn.close()
    return list(spans.get_finished_spans())


async def test_no_statement_makes_a_span_by_default(pg_server_url):
    assert HarbourSettings().trace_queries is False
    assert await _query_with(f"off-{uuid.uuid4().hex}", pg_server_url, trace_queries=False) == []


async def test_with_trace_queries_each_statement_has_a_span_that_carries_none_of_its_values(pg_server_url):
    marker = f"value-{uuid.uuid4().hex}"
    try:
        spans = await _query_with(marker, pg_server_url, trace_queries=True)
    finally:
        # The instrumentation patches the driver for the whole process: the rest of this worker's tests run
        # without it, as every service does by default.
        AsyncPGInstrumentor().uninstrument()
        telemetry._asyncpg_instrumented = False
    statements = [s for s in spans if s.attributes and "db.system" in s.attributes]
    assert statements, [s.name for s in spans]
    for span in spans:
        seen = " ".join([span.name, *(str(v) for v in (span.attributes or {}).values())])
        assert marker not in seen
