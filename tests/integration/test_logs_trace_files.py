"""Trace files rotate with a size bound: a service writing spans without end keeps var/traces within
trace_file_max_bytes x trace_files_kept, in whole JSON lines, the newest spans kept."""

from __future__ import annotations

import json
import uuid

from harbour import telemetry
from harbour.settings import HarbourSettings


def test_writing_far_beyond_the_bound_keeps_the_trace_files_within_it(tmp_path, monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    settings = HarbourSettings(var_dir=tmp_path, trace_file_max_bytes=50_000, trace_files_kept=3, trace_files=True)
    service = f"tracefiles-{uuid.uuid4().hex[:8]}"  # a provider of its own (providers are per service name)
    provider = telemetry.tracer_provider(service, settings)
    tracer = provider.get_tracer("test")
    for n in range(3000):  # about 0.6 MB of spans, in lines of 20: four times the bound
        with tracer.start_as_current_span(f"span-{n}") as span:
            span.set_attribute("harbour.n", n)
        if n % 20 == 19:
            provider.force_flush()
    provider.force_flush()

    files = sorted(settings.traces_dir.glob(f"{service}.jsonl*"))
    assert [f.name for f in files] == [f"{service}.jsonl", f"{service}.jsonl.1", f"{service}.jsonl.2"]
    assert sum(f.stat().st_size for f in files) <= 50_000 * 3
    names = set()
    for f in files:
        for line in f.read_text().splitlines():
            for resource in json.loads(line)["resourceSpans"]:  # every line whole: it parses
                for scope in resource["scopeSpans"]:
                    names.update(s["name"] for s in scope["spans"])
    assert "span-2999" in names and "span-0" not in names  # the newest kept, the oldest rotated away
