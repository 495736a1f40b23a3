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
    """Append ``milestone`` to its audience's feed; its cursor, or None when it was already there.

    One call (``feeds_store_milestone``, migration 0003): take the audience's head row lock, which serialises every
    store of that audience until commit, so cursors commit in increasing order and a reader asking for "after n"
    never misses one committed later; under the lock, add nothing if the milestone is already there (a concurrent
    duplicate, two replicas during a rebalance); else insert it at the next cursor, move the head and notify
    the streams (delivered at commit, never before: a woken stream always finds the row).
    """
    cursor: int | None = await conn.fetchval(
        "SELECT feeds_store_milestone($1, $2, $3::jsonb, $4, $5, $6, $7)",
        milestone.audience, milestone.milestone_id, milestone.model_dump_json(), topic, partition, offset, CHANNEL,
    )  # fmt: skip
    return cursor


async def read_after(conn: Any, audience: str, after: int, limit: int) -> list[FeedItem]:
    rows = await conn.fetch(
        "SELECT seq, milestone FROM feed_milestones WHERE audience = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        audience, after, limit,
    )  # fmt: skip
    return [FeedItem(cursor=r["seq"], milestone=Milestone.model_validate(json.loads(r["milestone"]))) for r in rows]
