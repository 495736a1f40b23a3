"""Load–decide–save in housing: one transaction per command, queued on the shelter networks it decides on.

Every command runs under the platform's one policy (``harbour.commands.run_command``): one transaction, queued
behind the commands it contends with, decided again from a fresh read when another writer won a race, and
recorded with its Idempotency-Key. Housing's commands take no ``expected_version``: the client does not decide
on a version it read, the network decides on the beds it holds.

The queue key is the shelter network, not the case: every decision about a centre's beds is taken on that
centre's :class:`ShelterNetwork` stream (a request for one case is served from the beds every other case of the
centre competes for, and a freed bed goes to another case's request), so commands on two different cases of
one centre contend for the same stream, and commands on one case in two centres do not. Two requests decided
on the same version cannot both commit (the store's expected-version check); under a burst that would make all
but one of them fail and retry, over and over. So a command takes the network's queue as it loads it
(:meth:`Unit.network`; which networks a command reaches is known only as it decides, e.g. a freed bed that
places someone who waits in another centre too), in sorted order (``harbour.commands.queue``): concurrent
requests queue instead of colliding, two commands reaching two networks never wait for each other in a
circle, and the version check stays as the backstop that makes an overbooking impossible even for a writer
outside the queue.

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
from harbour.commands import Work, queue, run_command
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
    """Every housing command: ``work(conn)`` under ``harbour.commands.run_command``, its answer built in that
    transaction and recorded there with the caller's Idempotency-Key. Addresses are ``SecretStr``: the key's
    fingerprint never sees them."""
    # No queue up front: the work queues on each network as it loads it (after the case's own lock, in the order
    # housing always took them), and a command learns most of its networks only as it decides.
    return await run_command(pool_tx, work, org=org, body=body, queue_on=None)


def network_queue(centre: str) -> str:
    """What commands on a centre's beds queue on: its network (named as its stream)."""
    return f"{ShelterNetwork.stream_type}-{centre}"


async def load_network(repository: Repository, conn: Any, centre: str) -> ShelterNetwork:
    # Held from before the load to the commit: one centre's bed decisions are taken strictly one after the other.
    await queue(conn, network_queue(centre))
    return await repository.load_or_new(ShelterNetwork, centre, conn=conn)


class Unit:
    """The streams one command changes, saved together in its transaction.

    Networks are queued on as they are loaded. Each ``BedAssigned`` a network decided puts that person in the
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
