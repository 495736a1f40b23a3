"""The SQL of the webhook subscriptions and their delivery log (tables in migrations/0002_webhooks.sql)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.feeds.projections import CHANNEL

_SUBSCRIPTION = """subscription_id, audience, url, status, delivered_cursor, failures, next_attempt_at, paused_at,
                   created_at"""


async def insert(conn: Any, *, subscription_id: UUID, audience: str, url: str, secret: str, after: int,
                 now: datetime) -> asyncpg.Record:  # fmt: skip
    row: asyncpg.Record = await conn.fetchrow(
        f"""INSERT INTO webhook_subscriptions (subscription_id, audience, url, secret, delivered_cursor,
                                               next_attempt_at, created_at)
            VALUES ($1, $2, $3, $4::jsonb, $5, $6, $6) RETURNING {_SUBSCRIPTION}""",
        subscription_id, audience, url, secret, after, now,
    )  # fmt: skip
    return row


async def load(conn: Any, audience: str, subscription_id: UUID, *, lock: bool = False) -> asyncpg.Record | None:
    """The audience's subscription (None for another audience's: its office learns nothing of it)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {_SUBSCRIPTION} FROM webhook_subscriptions WHERE audience = $1 AND subscription_id = $2"
        + (" FOR UPDATE" if lock else ""),
        audience, subscription_id,
    )  # fmt: skip
    return row


async def sealed_secret(conn: Any, audience: str, subscription_id: UUID) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT secret::text FROM webhook_subscriptions WHERE audience = $1 AND subscription_id = $2",
        audience, subscription_id,
    )  # fmt: skip
    return value


async def page(conn: Any, audience: str, after: UUID | None, limit: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT {_SUBSCRIPTION} FROM webhook_subscriptions
            WHERE audience = $1 AND ($2::uuid IS NULL OR subscription_id > $2)
            ORDER BY subscription_id LIMIT $3""",
        audience, after, limit,
    )  # fmt: skip
    return rows


async def resume(conn: Any, subscription_id: UUID, *, after: int | None, now: datetime) -> asyncpg.Record:
    """Active again, from ``after`` (None: from the last delivered entry), due now, with no failure counted."""
    row: asyncpg.Record = await conn.fetchrow(
        f"""UPDATE webhook_subscriptions
            SET status = 'active', paused_at = NULL, failures = 0, next_attempt_at = $3,
                delivered_cursor = COALESCE($2, delivered_cursor)
            WHERE subscription_id = $1 RETURNING {_SUBSCRIPTION}""",
        subscription_id, after, now,
    )  # fmt: skip
    return row


async def feed_head(conn: Any, audience: str) -> int:
    """The last cursor of the audience's feed (0 when it has none yet)."""
    head = await conn.fetchval("SELECT last_cursor FROM feed_heads WHERE audience = $1", audience)
    return int(head or 0)


async def deliveries(conn: Any, subscription_id: UUID, after: int, limit: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT attempt, cursor, webhook_id, attempted_at, outcome, status_code, error, paused
           FROM webhook_deliveries WHERE subscription_id = $1 AND attempt > $2 ORDER BY attempt LIMIT $3""",
        subscription_id, after, limit,
    )  # fmt: skip
    return rows


# -- the delivery workers -------------------------------------------------------------------------------------


async def claim(conn: Any, now: datetime) -> asyncpg.Record | None:
    """A due active subscription with an entry to send, locked until the transaction ends; None if there is none.

    SKIP LOCKED: a subscription another worker (of this process or another replica) is sending to is passed
    over, so one subscription has one delivery in flight at a time, and its entries leave in cursor order."""
    row: asyncpg.Record | None = await conn.fetchrow(
        """SELECT s.subscription_id, s.audience, s.url, s.secret::text AS secret, s.delivered_cursor, s.failures
           FROM webhook_subscriptions s
           WHERE s.status = 'active' AND s.next_attempt_at <= $1
             AND EXISTS (SELECT 1 FROM feed_milestones m WHERE m.audience = s.audience AND m.seq > s.delivered_cursor)
           ORDER BY s.next_attempt_at
           LIMIT 1
           FOR UPDATE OF s SKIP LOCKED""",
        now,
    )  # fmt: skip
    return row


async def next_due(conn: Any) -> datetime | None:
    """When the next attempt of an active subscription with an entry to send is due (None: none has one).

    Passing over the subscriptions other workers hold (SKIP LOCKED; the row lock taken here ends with the
    caller's transaction): a held one is due already, and counting it would have an idle worker look again at
    once, and again, for as long as the attempt lasts. Its worker goes on with it itself."""
    moment: datetime | None = await conn.fetchval(
        """SELECT s.next_attempt_at FROM webhook_subscriptions s
           WHERE s.status = 'active' AND EXISTS (SELECT 1 FROM feed_milestones m
                                                 WHERE m.audience = s.audience AND m.seq > s.delivered_cursor)
           ORDER BY s.next_attempt_at LIMIT 1
           FOR UPDATE OF s SKIP LOCKED"""
    )
    return moment


async def notify(conn: Any, audience: str) -> None:
    """At commit, every replica's workers look again (the feeds' channel: its streams only re-read on it)."""
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, audience)


async def next_entry(conn: Any, audience: str, after: int) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        """SELECT seq, milestone_id, milestone::text AS milestone, stored_at FROM feed_milestones
           WHERE audience = $1 AND seq > $2 ORDER BY seq LIMIT 1""",
        audience, after,
    )  # fmt: skip
    return row


async def record_delivered(conn: Any, subscription_id: UUID, cursor: int, webhook_id: str, status_code: int,
                           now: datetime) -> None:  # fmt: skip
    await conn.execute(
        """UPDATE webhook_subscriptions SET delivered_cursor = $2, failures = 0, next_attempt_at = $3
           WHERE subscription_id = $1""",
        subscription_id, cursor, now,
    )  # fmt: skip
    await _log(conn, subscription_id, cursor, webhook_id, now, "delivered", status_code, None, paused=False)


async def record_failed(conn: Any, subscription_id: UUID, cursor: int, webhook_id: str, *, status_code: int | None,
                        error: str, failures: int, pause: bool, retry_at: datetime, now: datetime) -> None:  # fmt: skip
    await conn.execute(
        """UPDATE webhook_subscriptions
           SET failures = $2, next_attempt_at = $3,
               status = CASE WHEN $4 THEN 'paused' ELSE status END,
               paused_at = CASE WHEN $4 THEN $5 ELSE paused_at END
           WHERE subscription_id = $1""",
        subscription_id, failures, retry_at, pause, now,
    )  # fmt: skip
    await _log(conn, subscription_id, cursor, webhook_id, now, "failed", status_code, error, paused=pause)


async def _log(conn: Any, subscription_id: UUID, cursor: int, webhook_id: str, now: datetime, outcome: str,
               status_code: int | None, error: str | None, *, paused: bool) -> None:  # fmt: skip
    await conn.execute(
        """INSERT INTO webhook_deliveries (subscription_id, cursor, webhook_id, attempted_at, outcome, status_code,
                                           error, paused)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        subscription_id, cursor, webhook_id, now, outcome, status_code, error, paused,
    )  # fmt: skip
