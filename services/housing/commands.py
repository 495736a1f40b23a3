"""How housing commands touch the store: one transaction per command, a lock per shelter network, retries.

Every decision about a centre's beds is taken on that centre's :class:`ShelterNetwork` stream. Two requests
decided on the same version cannot both commit (the store's expected-version check); under a burst that
would make all but one of them fail and retry, over and over. So a command first takes the network's
advisory lock (the same key the store's append takes), then loads and decides: concurrent requests queue
instead of colliding, and the version check stays as the backstop that makes an overbooking impossible
even for a writer that forgot the lock.

A command that touches two streams (an exit frees the bed *and* moves the person; an assignment fills the
bed *and* puts the person in the shelter) commits both in one transaction, or neither.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, TypeVar

from fastapi import Response
from pydantic import BaseModel

from harbour.clock import Clock
from harbour.clock import local_day as _local_day
from harbour.clock import today as _today
from harbour.idempotency import Work, run_command
from harbour.repository import Repository
from harbour.store import CommandContext
from schemas.housing import BedAssigned, WithdrawalReason
from services.housing.domain import Placement, ShelterNetwork

T = TypeVar("T")


def today(clock: Clock) -> date:
    """The calendar day in Belgium: a placement at 23:30 in Brussels is on that day, not the UTC one."""
    return _today(clock)


def local_day(moment: datetime) -> date:
    return _local_day(moment)


async def run(pool_tx: Any, org: str, work: Work, body: BaseModel | None = None) -> Response:
    """Every housing command: ``work(conn)`` in one transaction, again from a fresh read when another writer won a
    race (``harbour.unit_of_work.retrying``), its answer built in that transaction and recorded there with the
    caller's Idempotency-Key. Addresses are ``SecretStr``: the key's fingerprint never sees them."""
    return await run_command(pool_tx, work, org=org, body=body)


async def lock_network(conn: Any, centre: str) -> None:
    # Same key as harbour_append's per-stream lock (and re-entrant within a transaction), so holding it
    # from before the load to the commit makes one centre's bed decisions strictly one after the other.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"shelter-network-{centre}")


async def load_network(repository: Repository, conn: Any, centre: str) -> ShelterNetwork:
    await lock_network(conn, centre)
    return await repository.load_or_new(ShelterNetwork, centre, conn=conn)


class Unit:
    """The streams one command changes, saved together in its transaction.

    Networks are locked as they are loaded. Each ``BedAssigned`` a network decided puts that person in the
    shelter (``Placement.enter_shelter``) and withdraws the person's other open requests with other centres
    (``placed-elsewhere``): a person never holds two beds, nor waits for a second one.
    """

    def __init__(self, repository: Repository, conn: Any, context: CommandContext) -> None:
        self.repository = repository
        self.conn = conn
        self.context = context
        self.networks: dict[str, ShelterNetwork] = {}
        self.placements: dict[str, Placement] = {}

    async def network(self, centre: str) -> ShelterNetwork:
        if centre not in self.networks:
            self.networks[centre] = await load_network(self.repository, self.conn, centre)
        return self.networks[centre]

    async def placement(self, case_id: str) -> Placement:
        if case_id not in self.placements:
            self.placements[case_id] = await self.repository.load_or_new(Placement, case_id, conn=self.conn)
        return self.placements[case_id]

    async def commit(self) -> None:
        """Follow the assignments, then save every changed stream (networks first, as they decide)."""
        handled: set[tuple[str, str]] = set()
        while True:
            assigned = [
                (e, centre)
                for centre, net in list(self.networks.items())
                for e in net.pending()
                if isinstance(e, BedAssigned) and (centre, e.request_id) not in handled
            ]
            if not assigned:
                break
            for event, centre in assigned:
                handled.add((centre, event.request_id))
                placement = await self.placement(event.case_id)
                placement.enter_shelter(request_id=event.request_id, shelter_id=event.shelter_id, on=event.on)
                await self._withdraw_elsewhere(event.case_id, centre, event.on)
        for net in self.networks.values():
            await self.repository.save(net, self.context, conn=self.conn)
        for placement in self.placements.values():
            await self.repository.save(placement, self.context, conn=self.conn)

    async def _withdraw_elsewhere(self, case_id: str, placed_in: str, on: date) -> None:
        rows = await self.conn.fetch(
            """SELECT request_id, network FROM housing_requests
               WHERE case_id = $1 AND network <> $2 AND status IN ('new', 'awaiting-acceptance', 'waiting')
               ORDER BY network""",
            case_id, placed_in,
        )  # fmt: skip
        for row in rows:
            other = await self.network(row["network"])
            if row["request_id"] in other.requests:  # re-checked under that network's lock
                other.withdraw_request(request_id=row["request_id"], reason=WithdrawalReason.PLACED_ELSEWHERE,
                                       on=on)  # fmt: skip
