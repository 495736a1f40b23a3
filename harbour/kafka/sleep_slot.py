"""A relay's sleep slot: appends notify only the relays that sleep (``0007_wake_only_sleeping_relays.sql``).

A NOTIFY per append made PostgreSQL commit concurrent appends one at a time, so an append notifies only when
a relay may be asleep. A relay holds its slot (an advisory lock) exclusively only while it sleeps; an append
that takes every slot shared holds those until it commits and skips the NOTIFY. So a relay can lie down only
once no such append is in flight, and must read the store once more after it has: those appends committed
without waking anyone.
"""

from __future__ import annotations

from harbour.db import Connection

LOCK_CLASS = 18498  # 'HB': the first key of every slot lock (two-key advisory locks never meet bigint ones)
SLOTS = (1, 2)  # the slots harbour_append looks at: a service's domain relay and its milestone relay
DOMAIN_SLOT, MILESTONE_SLOT = SLOTS


class SleepSlot:
    def __init__(self, conn: Connection, slot: int) -> None:
        if slot not in SLOTS:
            raise ValueError(f"sleep slot {slot} is not one harbour_append wakes (it checks {SLOTS})")
        self.conn = conn  # the relay's own connection, which also LISTENs: a session lock dies with it
        self.slot = slot

    async def lie_down(self) -> bool:
        """Take the slot; False while an append that saw this relay awake has not committed yet."""
        return bool(await self.conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", LOCK_CLASS, self.slot))

    async def get_up(self) -> None:
        await self.conn.execute("SELECT pg_advisory_unlock($1, $2)", LOCK_CLASS, self.slot)
