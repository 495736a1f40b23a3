"""The feeds' read model: milestones per audience under a gap-free cursor (tables in migrations/0001).

Feeds has no event store of its own to project: its source is the audience topics, and this table is the
store, written by the handler in the transaction that also writes the inbox row.
"""

from __future__ import annotations

import json
from typing import Any

from schemas.milestones import Milestone
from services.feeds.domain import FeedItem

# One channel for every audience: the payload names the audience, and streams only take it as a hint to
# read the table again (a missed notification costs latency, never a milestone).
CHANNEL = "harbour_feeds"


async def store(conn: Any, milestone: Milestone, *, topic: str, partition: int, offset: int) -> int | None:
    """Append ``milestone`` to its audience's feed; its cursor, or None when it was already there."""
    audience = milestone.audience
    await conn.execute("INSERT INTO feed_heads (audience, last_cursor) VALUES ($1, 0) ON CONFLICT DO NOTHING",
                       audience)  # fmt: skip
    # The row lock serialises every store of this audience until commit (see the migration): cursors then
    # commit in increasing order, so a reader asking for "after n" can never miss one committed later.
    head = await conn.fetchval("SELECT last_cursor FROM feed_heads WHERE audience = $1 FOR UPDATE", audience)
    # Checked under the lock: a concurrent duplicate (two replicas during a rebalance) waits above, then sees
    # the first copy committed, and adds nothing instead of taking a cursor.
    if await conn.fetchval("SELECT 1 FROM feed_milestones WHERE audience = $1 AND milestone_id = $2",
                           audience, milestone.milestone_id):  # fmt: skip
        return None
    cursor = head + 1
    await conn.execute(
        """INSERT INTO feed_milestones (audience, seq, milestone_id, milestone, topic, partition, "offset")
           VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)""",
        audience, cursor, milestone.milestone_id, milestone.model_dump_json(), topic, partition, offset,
    )  # fmt: skip
    await conn.execute("UPDATE feed_heads SET last_cursor = $2 WHERE audience = $1", audience, cursor)
    # Delivered at commit, never before: a woken stream always finds the row.
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, audience)
    return cursor


async def read_after(conn: Any, audience: str, after: int, limit: int) -> list[FeedItem]:
    rows = await conn.fetch(
        "SELECT seq, milestone FROM feed_milestones WHERE audience = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        audience, after, limit,
    )  # fmt: skip
    return [FeedItem(cursor=r["seq"], milestone=Milestone.model_validate(json.loads(r["milestone"]))) for r in rows]
