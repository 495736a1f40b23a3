"""The event store on asyncpg: append with optimistic concurrency, read a stream, follow all events in order."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, ClassVar
from uuid import uuid4

import asyncpg

from harbour.clock import Clock, SystemClock
from harbour.db import Connection
from harbour.errors import ConcurrencyError
from harbour.events import DomainEvent
from harbour.store.envelope import OPTIONAL_HEADERS, WIRE_HEADERS, Actor, CommandContext, NewEvent, RecordedEvent

NOTIFY_CHANNEL = "harbour_events"

_COLUMNS = """global_position, tx_id, event_id, stream_id, stream_type, stream_version, event_type,
    schema_version, payload::text AS payload, case_id, jurisdiction, occurred_at, recorded_at, actor_org,
    actor_role, actor_user, correlation_id, causation_id, traceparent"""


# The same page as read_all, in the Kafka form, for the relay: key, value and the envelope headers as bytes
# (WIRE_HEADERS without the stored traceparent, which is a column of its own: the relay groups by it and sends
# its publish span's instead). NULL headers are left out of the array; ``absent`` tells which (a bit per
# optional header), so that ``wire_header_names`` lines names up with values without a per-header test.
_WIRE_SENT = [(name, sql) for name, sql in WIRE_HEADERS if name != "traceparent"]
_WIRE_OPTIONAL = [name for name, _ in _WIRE_SENT if name in OPTIONAL_HEADERS]
_WIRE_COLUMNS = ", ".join(
    (
        "tx_id", "global_position", "traceparent", "event_type",
        "convert_to(case_id, 'UTF8') AS key",
        "convert_to(payload::text, 'UTF8') AS value",
        "array_remove(ARRAY[" + ", ".join(f"convert_to({sql}, 'UTF8')" for _, sql in _WIRE_SENT) + "], NULL)"
        " AS headers",
        " + ".join(f"({name} IS NULL)::int * {1 << bit}" for bit, name in enumerate(_WIRE_OPTIONAL)) + " AS absent",
    )
)  # fmt: skip


class WireRow(asyncpg.Record):
    """A row of ``read_wire``, its columns by name: (tx_id, global_position, traceparent, event_type, key, value,
    headers, absent) as ``_WIRE_COLUMNS`` selects them.

    asyncpg builds it in place of its plain Record (``record_class``): the same row, no copy. Each name reads
    its column by index (a C itemgetter: the relay reads a few per message on its hot path), so the names cost
    nothing over ``row[4]`` and say what ``row[4]`` meant.
    """

    __slots__ = ()

    if TYPE_CHECKING:
        tx_id: int
        global_position: int
        traceparent: str | None
        event_type: str
        key: bytes
        value: bytes
        headers: list[bytes]  # the values of wire_header_names(absent), in that order
        absent: int
    else:
        tx_id = property(itemgetter(0))
        global_position = property(itemgetter(1))
        traceparent = property(itemgetter(2))
        event_type = property(itemgetter(3))
        key = property(itemgetter(4))
        value = property(itemgetter(5))
        headers = property(itemgetter(6))
        absent = property(itemgetter(7))


@functools.cache
def wire_header_names(absent: int) -> tuple[str, ...]:
    """The names of a wire row's header values, given its ``absent`` bits."""
    missing = {name for bit, name in enumerate(_WIRE_OPTIONAL) if absent & (1 << bit)}
    return tuple(name for name, _ in _WIRE_SENT if name not in missing)


# Rows come back in the order of the events given (the function inserts them ordered by ordinality); the ids
# are those we sent, so only what the server assigned is read back.
_APPEND_SQL = """SELECT o_global_position, o_tx_id, o_stream_version, o_recorded_at
  FROM harbour_append($1,$2,$3,$4,$5,$6,$7,$8,$9::text[]::jsonb[],$10,$11,$12,$13,$14,$15,$16)"""


class StreamOrderRetry(Exception):
    """The caller's transaction wrote before appending and the stream moved on meanwhile: retry it whole."""


async def lock_stream(conn: Connection, stream_id: str) -> None:
    """Take the stream's append lock before a transaction writes anything else (a person's key, say).

    ``harbour_append`` takes this same transaction-level advisory lock (seed 0); taking it first (it is
    re-entrant) keeps the append's rule that a stream's later events come from later transactions, which a write
    made before the lock could break (the append would then refuse with HB40R, :class:`StreamOrderRetry`). It
    holds every other writer of the stream off until this transaction ends, handlers included.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", stream_id)


@dataclass(frozen=True, order=True)
class Position:
    """A place in the store's global order: the appending transaction's id, then the row's position."""

    tx_id: int = 0
    global_position: int = 0
    ZERO: ClassVar[Position]  # the start of the store, before any event


Position.ZERO = Position()


def _page_sql(columns: str) -> str:
    # The page is taken in index order first and cut at the first row of a transaction that may still be
    # running: in (tx_id, ...) order those rows form the page's tail, so the cut keeps the guarantee. With
    # the snapshot condition inside the scan, the planner misjudged it and sorted the whole backlog for
    # every page (quadratic under a backlog); this way it walks the index and stops at the limit.
    return f"""SELECT * FROM (
                  SELECT {columns} FROM events
                   WHERE (tx_id, global_position) > ($1, $2)
                   ORDER BY tx_id, global_position LIMIT $3) page
               WHERE tx_id < (SELECT harbour_read_bound())
               ORDER BY tx_id, global_position"""


@functools.lru_cache(maxsize=4096)
def _actor(org: str | None, role: str | None, user: str | None) -> Actor:
    # Actors repeat across a store (a handful of users and system names); Actor is frozen, so one is shared.
    return Actor(org, role, user)


_new_record = object.__new__


def _record(row: asyncpg.Record) -> RecordedEvent:
    """A stored row as its RecordedEvent, built without the dataclass's ``__init__``.

    A frozen dataclass's ``__init__`` sets each of the 18 fields through ``object.__setattr__``: 6 µs of the
    rebuild's ~35 µs per event (bench.replay). The row is the store's own, its columns typed by the table, so
    the instance's ``__dict__`` is filled in one go instead; it holds exactly the fields ``__init__`` would
    set (tests/unit/test_recorded_event.py holds the two equal).
    """
    event = _new_record(RecordedEvent)
    object.__setattr__(event, "__dict__", {
        "event_id": row["event_id"],
        "stream_id": row["stream_id"],
        "stream_type": row["stream_type"],
        "stream_version": row["stream_version"],
        "global_position": row["global_position"],
        "tx_id": row["tx_id"],
        "event_type": row["event_type"],
        "schema_version": row["schema_version"],
        "payload": json.loads(row["payload"]),
        "case_id": row["case_id"],
        "jurisdiction": row["jurisdiction"],
        "occurred_at": row["occurred_at"],
        "recorded_at": row["recorded_at"],
        "actor": _actor(row["actor_org"], row["actor_role"], row["actor_user"]),
        "correlation_id": row["correlation_id"],
        "causation_id": row["causation_id"],
        "traceparent": row["traceparent"],
        "payload_json": row["payload"],
    })  # fmt: skip
    return event


class EventStore:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        clock: Clock | None = None,
        jurisdiction: str = "BE",
        on_append: Callable[[Sequence[RecordedEvent]], None] | None = None,
    ) -> None:
        self.pool = pool
        self.clock = clock or SystemClock()
        self.jurisdiction = jurisdiction
        self._on_append = on_append

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    async def append(
        self,
        *,
        stream_id: str,
        stream_type: str,
        case_id: str,
        expected_version: int | None,
        events: Sequence[NewEvent | DomainEvent],
        context: CommandContext,
        conn: Connection | None = None,
    ) -> list[RecordedEvent]:
        """Append ``events`` to a stream at ``expected_version`` (None: any). Atomic: all or none.

        Raises ConcurrencyError when the stream is not at the expected version (HTTP 409 for callers).
        """
        if not events:
            return []
        domain = [e.event if isinstance(e, NewEvent) else e for e in events]
        event_ids = [e.event_id if isinstance(e, NewEvent) else uuid4() for e in events]
        case_ids = [(e.case_id if isinstance(e, NewEvent) else None) or case_id for e in events]
        occurred = self.clock.now()
        # The payload as JSON text from pydantic's serializer; the recorded event's dict is parsed back from it
        # (cheaper than a second pydantic dump).
        payloads = [e.model_dump_json() for e in domain]
        args = (
            stream_id, stream_type, case_ids, expected_version, self.jurisdiction,
            event_ids,
            [e.event_type for e in domain],
            [e.schema_version for e in domain],
            payloads,
            [occurred] * len(domain),
            context.actor.org, context.actor.role, context.actor.user,
            context.correlation_id, context.causation_id, context.traceparent,
        )  # fmt: skip
        sql = _APPEND_SQL
        try:
            if conn is None:
                async with self.pool.acquire() as own:
                    rows = await own.fetch(sql, *args)
            else:
                rows = await conn.fetch(sql, *args)
        except asyncpg.PostgresError as error:
            if getattr(error, "sqlstate", None) == "HB409":
                actual = int(getattr(error, "detail", "0") or 0)
                raise ConcurrencyError(stream_id, expected_version or 0, actual) from None
            if getattr(error, "sqlstate", None) == "HB40R":
                raise StreamOrderRetry(str(error)) from None
            raise
        recorded = [
            RecordedEvent(
                event_id=event_id,
                stream_id=stream_id,
                stream_type=stream_type,
                stream_version=row["o_stream_version"],
                global_position=row["o_global_position"],
                tx_id=row["o_tx_id"],
                event_type=event.event_type,
                schema_version=event.schema_version,
                payload=json.loads(payload),
                case_id=event_case_id,
                jurisdiction=self.jurisdiction,
                occurred_at=occurred,
                recorded_at=row["o_recorded_at"],
                actor=context.actor,
                correlation_id=context.correlation_id,
                causation_id=context.causation_id,
                traceparent=context.traceparent,
                payload_json=payload,
            )
            for row, event, event_id, event_case_id, payload in zip(
                rows, domain, event_ids, case_ids, payloads, strict=True
            )
        ]
        if self._on_append is not None:
            self._on_append(recorded)
        return recorded

    async def read_stream(self, stream_id: str, *, conn: Connection | None = None) -> list[RecordedEvent]:
        sql = f"SELECT {_COLUMNS} FROM events WHERE stream_id = $1 ORDER BY stream_version"
        if conn is not None:
            return [_record(r) for r in await conn.fetch(sql, stream_id)]
        async with self.pool.acquire() as own:
            return [_record(r) for r in await own.fetch(sql, stream_id)]

    async def read_case(self, case_id: str, *, conn: Connection | None = None) -> list[RecordedEvent]:
        sql = f"SELECT {_COLUMNS} FROM events WHERE case_id = $1 ORDER BY tx_id, global_position"
        if conn is not None:
            return [_record(r) for r in await conn.fetch(sql, case_id)]
        async with self.pool.acquire() as own:
            return [_record(r) for r in await own.fetch(sql, case_id)]

    async def read_all(
        self, after: Position, limit: int = 500, *, conn: Connection | None = None
    ) -> list[RecordedEvent]:
        """Events after ``after`` in commit-safe order, never skipping one that commits later.

        Only rows of transactions older than every transaction still in progress that may write here are
        returned (``harbour_read_bound``, migration 0014): an in-flight append can therefore never land behind
        the reader. A transaction known to run in another database of the server does not hold the reader back.
        The bound may step back for a moment: a transaction of another database that ends between the statement's
        snapshot and its look at ``pg_stat_activity`` cannot be placed then, and holds the reader back as one of
        this database would. A page found once may so read empty once; it is never skipped (readers retry).
        """
        rows = await self._page(_COLUMNS, after, limit, conn)
        return [_record(r) for r in rows]

    async def read_wire(self, after: Position, limit: int = 500) -> list[WireRow]:
        """The page ``read_all`` returns, as rows of (tx_id, global_position, traceparent, event_type, key,
        value, headers, absent): the Kafka form rendered by PostgreSQL (see ``WIRE_HEADERS``)."""
        async with self.pool.acquire() as own:
            return await own.fetch(
                _page_sql(_WIRE_COLUMNS), after.tx_id, after.global_position, limit, record_class=WireRow
            )

    async def _page(self, columns: str, after: Position, limit: int, conn: Connection | None) -> list[asyncpg.Record]:
        sql = _page_sql(columns)
        if conn is not None:
            return await conn.fetch(sql, after.tx_id, after.global_position, limit)
        async with self.pool.acquire() as own:
            return await own.fetch(sql, after.tx_id, after.global_position, limit)

    async def any_after(self, after: Position) -> bool:
        """Whether any committed event lies after ``after``, readable yet or not (see ``read_all``)."""
        async with self.pool.acquire() as conn:
            return bool(await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM events WHERE (tx_id, global_position) > ($1, $2))",
                after.tx_id, after.global_position,
            ))  # fmt: skip

    async def position_of(self, global_position: int) -> Position:
        """The order position just before the event at ``global_position`` (for replays from a position)."""
        async with self.pool.acquire() as conn:
            tx = await conn.fetchval(
                "SELECT tx_id FROM events WHERE global_position >= $1 ORDER BY global_position LIMIT 1",
                global_position,
            )
        if tx is None:
            return await self.head()
        return Position(tx, global_position - 1)

    async def head(self) -> Position:
        """The last readable position (what a follower that is up to date has seen)."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                """SELECT tx_id, global_position FROM events
                    WHERE tx_id < (SELECT harbour_read_bound())
                    ORDER BY tx_id DESC, global_position DESC LIMIT 1"""
            )
        return Position(row["tx_id"], row["global_position"]) if row else Position()

    async def count(self) -> int:
        async with self.pool.acquire() as conn:
            return int(await conn.fetchval("SELECT count(*) FROM events"))
