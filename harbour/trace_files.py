"""Trace files that rotate by size: OTLP-JSON lines under ``var/traces`` never outgrow a bound.

Without a collector (``OTEL_EXPORTER_OTLP_ENDPOINT`` unset) each service writes its spans as OTLP-JSON lines to
``var/traces/<service>.jsonl``. A platform under load wrote 625 MB in under an hour, so the file rotates:
when a line would take it past ``max_bytes`` it becomes ``<service>.jsonl.1`` (the older ones move up one, and
the oldest beyond ``files`` in all is deleted). The service's traces then never take more than
``max_bytes × files`` bytes. A line is whole in one file (a batch of spans is one JSON line): a reader never
sees half a line. A single line longer than ``max_bytes`` is dropped, and counted.
"""

from __future__ import annotations

import threading
from pathlib import Path


class RotatingTraceFile:
    """A text stream (what ``FileSpanExporter(stream=...)`` writes to) that rotates by size."""

    def __init__(self, path: Path, *, max_bytes: int, files: int) -> None:
        if max_bytes <= 0 or files < 1:
            raise ValueError("a trace file needs max_bytes > 0 and at least one file")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.files = files
        self.dropped_lines = 0
        self._lock = threading.Lock()  # the span processor exports from its own thread
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab")
        self._size = self._file.tell()
        self.closed = False

    def write(self, text: str) -> int:
        data = text.encode()
        with self._lock:
            if len(data) > self.max_bytes:
                self.dropped_lines += 1
                return 0
            if self._size + len(data) > self.max_bytes:
                self._rotate()
            self._file.write(data)
            self._size += len(data)
        return len(text)

    def _rotate(self) -> None:
        self._file.close()
        oldest = self._numbered(self.files - 1)
        if self.files == 1:
            self.path.unlink(missing_ok=True)
        else:
            oldest.unlink(missing_ok=True)
            for n in range(self.files - 2, 0, -1):
                if self._numbered(n).exists():
                    self._numbered(n).rename(self._numbered(n + 1))
            self.path.rename(self._numbered(1))
        self._file = self.path.open("ab")
        self._size = 0

    def _numbered(self, n: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{n}")

    def flush(self) -> None:
        with self._lock:
            if not self.closed:
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self._file.close()
                self.closed = True
