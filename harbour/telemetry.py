"""Traces (OpenTelemetry) and metrics (Prometheus) for a service.

Traces go to OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, else as OTLP-JSON lines under ``var/traces/``.
Span attributes carry ids, types and counts only: never a value that could identify a person.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, cast

from faststream.kafka.opentelemetry.provider import (
    BatchKafkaTelemetrySettingsProvider,
    KafkaTelemetrySettingsProvider,
)
from faststream.opentelemetry.middleware import TelemetryMiddleware
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.semconv.trace import SpanAttributes
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import Counter, Gauge

from harbour.settings import HarbourSettings
from harbour.trace_files import RotatingTraceFile

log = logging.getLogger("harbour.telemetry")

# Processors every provider also gets: tests add an in-memory exporter here to read the spans they make.
EXTRA_SPAN_PROCESSORS: list[SpanProcessor] = []
_providers: dict[str, TracerProvider] = {}
_asyncpg_instrumented = False

APPENDS = Counter("harbour_events_appended_total", "Events appended to the store", ["service", "event_type"])
RELAYED = Counter("harbour_events_relayed_total", "Messages the relay published", ["service", "topic"])
RELAY_LAG = Gauge("harbour_relay_lag_events", "Store head position minus the relay checkpoint", ["service"])
# 1 on the replica whose relay holds its leadership lock, 0 on every other one that runs it: max over a
# service's replicas is 0 when none leads (set at each scrape, with the lag, by every replica).
RELAY_LEADER = Gauge("harbour_relay_leader", "1 where this replica's relay leads, else 0", ["service"])
CONSUMED = Counter("harbour_messages_consumed_total", "Messages handled", ["service", "consumer", "outcome"])
# Measured from the broker on a clock (harbour.kafka.lag): end offsets minus the group's committed offsets.
CONSUMER_LAG = Gauge("harbour_consumer_lag_messages", "Messages after the group's committed offsets, up to the "
                     "partitions' end", ["service", "consumer"])  # fmt: skip
DEAD_LETTERS = Counter("harbour_dead_letters_total", "Messages sent to a dead-letter topic", ["service", "topic"])
TIMERS_DUE = Gauge("harbour_timers_due", "Timers due and not yet fired", ["service"])
TIMERS_FIRED = Counter("harbour_timers_fired_total", "Timers fired", ["service", "kind"])
# Contention on one case (harbour.unit_of_work): a command decided again because another writer won a race, by
# what was lost (conflict, stream-order, queue-order, deadlock, serialization). Commands queued on what they
# contend for are decided once each; what remains comes from writers outside the queue (handlers, timers).
COMMAND_RETRIES = Counter("harbour_command_retries_total", "Command attempts started again after a lost race",
                          ["reason"])  # fmt: skip
# Requests answered at once by load shedding (harbour.http.shedding): reason = saturated (503), caller (429, over
# its share) or deadline (503, the request's time ran out and its transaction rolled back).
SHED = Counter("harbour_requests_shed_total", "Requests shed by load shedding", ["service", "reason"])
# A relay found that the broker lost what it had acknowledged and publishes its store again (harbour.kafka.rebuild).
RELAY_REBUILDS = Counter("harbour_relay_rebuilds_total", "Times a relay re-published its store after the broker "
                         "lost acknowledged messages", ["service", "relay"])  # fmt: skip
RELAY_REPUBLISHED = Counter("harbour_relay_republished_events_total", "Events published again by relay rebuilds "
                            "(up to where each relay had got before the loss)", ["service", "relay"])  # fmt: skip
RELAY_REBUILD_BEHIND = Gauge("harbour_relay_rebuild_events", "Events the last rebuild of a relay went back "
                             "over (its checkpoint at the loss minus where it restarted from)",
                             ["service", "relay"])  # fmt: skip


def tracer_provider(service: str, settings: HarbourSettings) -> TracerProvider:
    """The service's tracer provider (one per service name in a process)."""
    existing = _providers.get(service)
    if existing is not None:
        return existing
    resource = Resource.create(
        {
            "service.name": service,
            "service.version": settings.service_version,
            "deployment.environment": os.environ.get("HARBOUR_ENVIRONMENT", "development"),
        }
    )
    provider = TracerProvider(resource=resource)
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif settings.trace_files:
        from opentelemetry.exporter.otlp.json.file import FileSpanExporter

        directory = Path(settings.traces_dir)
        directory.mkdir(parents=True, exist_ok=True)
        # Rotated by size (harbour.trace_files): at most trace_file_max_bytes x trace_files_kept per service.
        stream = RotatingTraceFile(directory / f"{service}.jsonl", max_bytes=settings.trace_file_max_bytes,
                                   files=settings.trace_files_kept)  # fmt: skip
        # The exporter only writes and flushes its stream, which is all a RotatingTraceFile does of IO[str].
        provider.add_span_processor(BatchSpanProcessor(FileSpanExporter(stream=cast("IO[str]", stream))))
    for processor in EXTRA_SPAN_PROCESSORS:
        provider.add_span_processor(processor)
    _providers[service] = provider
    if settings.trace_queries:
        _instrument_asyncpg(provider)
    return provider


def _instrument_asyncpg(provider: TracerProvider) -> None:
    # asyncpg instrumentation patches the driver globally, so it is installed once per process.
    global _asyncpg_instrumented
    if _asyncpg_instrumented:
        return
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    # capture_parameters stays off: statement parameters may hold personal data.
    AsyncPGInstrumentor(capture_parameters=False).instrument(tracer_provider=provider)
    _asyncpg_instrumented = True


def shutdown_providers() -> None:
    for provider in _providers.values():
        provider.force_flush()


_PROPAGATOR = TraceContextTextMapPropagator()


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def context_from_traceparent(traceparent: str | None) -> Context | None:
    if not traceparent:
        return None
    return _PROPAGATOR.extract({"traceparent": traceparent})


def inject_headers(headers: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Replace the traceparent header with the current span's, so consumers continue this trace."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    kept = [(k, v) for k, v in headers if k not in carrier]
    return kept + [(k, v.encode()) for k, v in carrier.items()]


def get_tracer(service: str, settings: HarbourSettings) -> trace.Tracer:
    return tracer_provider(service, settings).get_tracer(f"harbour.{service}")


class _KeylessKafkaAttributes(KafkaTelemetrySettingsProvider):
    """FastStream's Kafka span attributes without ``messaging.kafka.message.key``: a domain topic's record key is
    the case id, and a span must not carry it (it would join every trace of a case to the case)."""

    def get_consume_attrs_from_message(self, msg: Any) -> dict[str, Any]:
        attrs = super().get_consume_attrs_from_message(msg)
        attrs.pop(SpanAttributes.MESSAGING_KAFKA_MESSAGE_KEY, None)
        return attrs

    def get_publish_attrs_from_cmd(self, cmd: Any) -> dict[str, Any]:
        attrs = super().get_publish_attrs_from_cmd(cmd)
        attrs.pop(SpanAttributes.MESSAGING_KAFKA_MESSAGE_KEY, None)
        return attrs


def kafka_middleware(provider: TracerProvider, *, traced: Callable[[Any], bool]) -> TelemetryMiddleware[Any]:
    """The broker's telemetry middleware: FastStream's, with spans that never carry the record key, and none at all
    for a record ``traced`` says no (one its consumer passes over unread: most records of a busy topic are of types
    a given consumer does not read, and a span for each was span creation and export for nothing)."""

    def attributes(msg: Any) -> KafkaTelemetrySettingsProvider | BatchKafkaTelemetrySettingsProvider | None:
        if isinstance(msg, Sequence):
            return BatchKafkaTelemetrySettingsProvider()  # a batch's attributes carry no key
        return _KeylessKafkaAttributes() if traced(msg) else None  # None: FastStream makes no span, counts nothing

    return TelemetryMiddleware(settings_provider_factory=attributes, tracer_provider=provider)
