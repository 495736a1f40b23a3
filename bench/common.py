"""What both benchmarks share: a bench-only event, a fresh database, progress on stderr, the final JSON line."""

from __future__ import annotations

import json
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from harbour.db import HARBOUR_MIGRATIONS, create_pool, database_url, drop_database, ensure_database, migrate
from harbour.events import DomainEvent
from harbour.settings import HarbourSettings
from harbour_tools.infra import resolve_postgres

# A traceparent as a request would have stored it: the relay continues this trace for every event.
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def new_traceparent() -> str:
    """A fresh sampled W3C traceparent, as a request's server span would leave on its events."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


_STARTED = time.monotonic()


class BenchItemCounted(DomainEvent):
    """A bench-only event, about the size of a typical small domain event."""

    event_type: ClassVar[str] = "bench.ItemCounted"
    item_id: str
    item: str
    count: int
    unit: str


def progress(message: str) -> None:
    """Human-readable progress, on stderr (stdout carries only the final JSON line)."""
    print(f"[{time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def emit(result: dict[str, Any]) -> None:
    print(json.dumps(result), flush=True)


def server_url(settings: HarbourSettings) -> str:
    """The real PostgreSQL the project would use (configured, the machine's, or the embedded one)."""
    return resolve_postgres(settings)


@asynccontextmanager
async def fresh_database(server: str, label: str) -> AsyncIterator[str]:
    """A new database migrated like a service's, dropped afterwards (even on Ctrl-C). Yields its URL."""
    name = f"harbour_bench_{label}_{uuid.uuid4().hex[:8]}"
    await ensure_database(server, name)
    url = database_url(server, name)
    try:
        pool = await create_pool(url, min_size=1, max_size=1)
        try:
            await migrate(pool, {"harbour": HARBOUR_MIGRATIONS})
        finally:
            await pool.close()
        progress(f"database {name} created and migrated")
        yield url
    finally:
        await drop_database(server, name)
        progress(f"database {name} dropped")
