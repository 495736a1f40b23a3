"""A relay's sleep slot: appends notify only the relays that sleep (``0007_wake_only_sleeping_relays.sql``).

A NOTIFY per append made PostgreSQL commit concurrent appends one at a time, so an append notifies only when
a relay may be asleep. A relay holds its slot (an advisory lock) exclusively only while it sleeps; an append
that takes every slot shared holds those until it commits and skips the NOTIFY. So a relay can lie down only
once no such append is in flight, and must read the store once more after it has: those appends committed
without waking anyone.

The slots an append takes are those registered in the database (``0012_sleep_slots_in_a_table.sql``): a relay
registers its own before it first lies down, so a database may have any number of relays. Each relay of a
database needs a slot of its own (two sharing one would keep each other awake, never asleep).
"""

from __future__ import annotations

from harbour.db import Connection

LOCK_CLASS = 18498  # 'HB': the first key of every slot lock (two-key advisory locks never meet bigint ones)
REGISTRY_SLOT = 0  # guards the table of slots (see 0012); never a relay's
SLOTS = (1, 2)  # registered by the migration: the slots 0007 knew, so that a relay which does not register is woken
DOMAIN_SLOT = 1  # a service's domain relay (the asleep-relay checks of the tests look at this one)


class SleepSlot:
    def __init__(self, conn: Connection, slot: int) -> None:
        if slot <= REGISTRY_SLOT:
            raise ValueError(f"a relay's sleep slot is a positive number, not {slot}")
        self.conn = conn  # the relay's own connection, which also LISTENs: a session lock dies with it
        self.slot = slot

    async def register(self, relay: str) -> None:
        """Make appends look at this slot; returns once every append that did not is committed (see 0012).

        Before the relay first lies down: it then reads the store, and finds the appends that woke nobody.
        """
        await self.conn.execute("SELECT harbour_register_sleep_slot($1, $2)", self.slot, relay)

    async def lie_down(self) -> bool:
        """Take the slot; False while an append that saw this relay awake has not committed yet."""
        return bool(await self.conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", LOCK_CLASS, self.slot))

    async def get_up(self) -> None:
        await self.conn.execute("SELECT pg_advisory_unlock($1, $2)", LOCK_CLASS, self.slot)
