"""Placements: requests (own centre and cross-centre), the host's answer, withdrawal, moves and exits.

Each command runs in one transaction (see :mod:`services.housing.commands`): the shelter network's lock is
held from the load to the commit, the person's ``Placement`` stream is saved with it, and a race lost to
another writer is retried from the start rather than returned as a 409.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import uuid4

from fastapi import APIRouter, Depends, Response

from harbour.auth import Caller
from harbour.clock import local_day
from harbour.errors import NotFound, RuleViolation
from harbour.events import DomainEvent
from harbour.service import RuntimeDep, ServiceRuntime
from schemas.housing import (
    BedAssigned,
    CrossCentreDeclineReason,
    CrossCentrePlacementRequested,
    ExitReason,
    HousingKind,
    PlacementSource,
    PlacementWaitlisted,
)
from services.housing import dates
from services.housing.access import CaseRow, exit_case, lock_case, may, owned_case
from services.housing.api.models import (
    AcceptIn,
    CrossCentreIn,
    DeclineIn,
    ExitIn,
    MoveIn,
    Outcome,
    PathOut,
    PlacementIn,
    WithdrawIn,
)
from services.housing.commands import Unit, run, today

router = APIRouter(prefix="/housing", tags=["placements"])


def outcome_of(events: list[DomainEvent], request_id: str, case_id: str, status: str = "") -> Outcome:
    """What became of ``request_id`` in the events a command just decided."""
    for event in events:
        if isinstance(event, BedAssigned) and event.request_id == request_id:
            return Outcome(request_id=request_id, case_id=case_id, status="assigned",
                           shelter_id=event.shelter_id, bed_id=event.bed_id)  # fmt: skip
        if isinstance(event, PlacementWaitlisted) and event.request_id == request_id:
            return Outcome(request_id=request_id, case_id=case_id, status="waitlisted",
                           position=event.position, waiting=event.waiting)  # fmt: skip
        if isinstance(event, CrossCentrePlacementRequested) and event.request_id == request_id:
            return Outcome(request_id=request_id, case_id=case_id, status="awaiting-acceptance")
    return Outcome(request_id=request_id, case_id=case_id, status=status)  # type: ignore[arg-type]


async def _not_in_a_shelter(unit: Unit, case_id: str) -> None:
    placement = await unit.placement(case_id)
    if placement.stage is HousingKind.SHELTER:
        # A second bed for one person would be a bed counted twice: moving between shelters is an exit first.
        raise RuleViolation("the person lives in a shelter: record the exit before a new request", field="case_id")


@router.post("/cases/{case_id}/placement-requests", status_code=201, response_model=Outcome)
async def request_placement(
    case_id: str, body: PlacementIn, caller: Caller = Depends(may("request_placement")), rt: ServiceRuntime = RuntimeDep
) -> Outcome:
    request_id = uuid4().hex

    async def work(conn: Any) -> Outcome:
        await owned_case(conn, case_id, caller)
        unit = Unit(rt.repository, conn, rt.command_context(caller))
        await _not_in_a_shelter(unit, case_id)
        network = await unit.network(caller.org)
        now = rt.clock.now()
        network.request_placement(request_id=request_id, case_id=case_id, needs=body.needs, urgency=body.urgency,
                                  source=PlacementSource.CASEWORKER, requested_at=now,
                                  on=local_day(now))  # fmt: skip
        outcome = outcome_of(network.pending(), request_id, case_id)
        await unit.commit()
        return outcome

    return await run(rt.store.transaction, caller.org, work, body)


@router.post("/cases/{case_id}/cross-centre-requests", status_code=201, response_model=Outcome)
async def request_cross_centre(
    case_id: str, body: CrossCentreIn, caller: Caller = Depends(may("request_cross_centre")),
    rt: ServiceRuntime = RuntimeDep,
) -> Outcome:  # fmt: skip
    request_id = uuid4().hex

    async def work(conn: Any) -> Outcome:
        await owned_case(conn, case_id, caller)
        unit = Unit(rt.repository, conn, rt.command_context(caller))
        await _not_in_a_shelter(unit, case_id)
        host = await unit.network(body.host_centre.value)
        host.request_cross_centre_placement(request_id=request_id, case_id=case_id, from_centre=caller.org,
                                            needs=body.needs, urgency=body.urgency,
                                            requested_at=rt.clock.now())  # fmt: skip
        outcome = outcome_of(host.pending(), request_id, case_id)
        await unit.commit()
        return outcome

    return await run(rt.store.transaction, caller.org, work, body)


async def _host_answer(rt: ServiceRuntime, caller: Caller, request_id: str, accept: bool, body: AcceptIn | DeclineIn,
                       reason: CrossCentreDeclineReason | None = None) -> Response:  # fmt: skip
    day = body.on or today(rt.clock)

    async def work(conn: Any) -> Outcome:
        unit = Unit(rt.repository, conn, rt.command_context(caller))
        network = await unit.network(caller.org)
        request = network.requests.get(request_id)
        if request is None:  # unknown, closed, or addressed to another centre: all look the same
            raise NotFound(f"no open request {request_id} for this centre")
        dates.check("accept-cross-centre" if accept else "decline-cross-centre", body.on,
                    {"requested_on": local_day(request.requested_at)}, rt.clock)  # fmt: skip
        if accept:
            network.accept_cross_centre_placement(request_id=request_id, on=day)
        else:
            assert reason is not None
            network.decline_cross_centre_placement(request_id=request_id, reason=reason, on=day)
        outcome = outcome_of(network.pending(), request_id, request.case_id, "declined")
        await unit.commit()
        return outcome

    return await run(rt.store.transaction, caller.org, work, body)


@router.post("/requests/{request_id}/accept", response_model=Outcome)
async def accept_cross_centre(
    request_id: str, body: AcceptIn, caller: Caller = Depends(may("accept_cross_centre")),
    rt: ServiceRuntime = RuntimeDep,
) -> Outcome:  # fmt: skip
    return await _host_answer(rt, caller, request_id, True, body)


@router.post("/requests/{request_id}/decline", response_model=Outcome)
async def decline_cross_centre(
    request_id: str, body: DeclineIn, caller: Caller = Depends(may("decline_cross_centre")),
    rt: ServiceRuntime = RuntimeDep,
) -> Outcome:  # fmt: skip
    return await _host_answer(rt, caller, request_id, False, body, body.reason)


@router.post("/requests/{request_id}/withdraw", response_model=Outcome)
async def withdraw_request(
    request_id: str, body: WithdrawIn, caller: Caller = Depends(may("withdraw_request")),
    rt: ServiceRuntime = RuntimeDep,
) -> Outcome:  # fmt: skip
    day = body.on or today(rt.clock)

    async def work(conn: Any) -> Outcome:
        row = await conn.fetchrow("SELECT network, case_id FROM housing_requests WHERE request_id = $1", request_id)
        if row is None:
            raise NotFound(f"no request {request_id}")
        await owned_case(conn, row["case_id"], caller)  # only the centre holding the case withdraws
        unit = Unit(rt.repository, conn, rt.command_context(caller))
        network = await unit.network(row["network"])
        open_request = network.requests.get(request_id)
        if open_request is not None:
            dates.check("withdraw-request", body.on, {"requested_on": local_day(open_request.requested_at)},
                        rt.clock)  # fmt: skip
        network.withdraw_request(request_id=request_id, reason=body.reason, on=day)
        await unit.commit()
        return Outcome(request_id=request_id, case_id=row["case_id"], status="withdrawn")

    return await run(rt.store.transaction, caller.org, work, body)


async def _shelter_host(conn: Any, unit: Unit, case_id: str) -> str | None:
    """The centre running the shelter the person sleeps in now, if they sleep in one."""
    placement = await unit.placement(case_id)
    if placement.stage is not HousingKind.SHELTER:
        return None
    return await conn.fetchval("SELECT centre FROM housing_shelters WHERE shelter_id = $1", placement.shelter_id)


async def _leave_shelter(unit: Unit, conn: Any, case_id: str, reason: ExitReason, on: date) -> None:
    """Free the person's bed, if they have one, in the network of the centre running that shelter: placements
    stay where they are across a transfer, so that may be the former holder's network, or a host's."""
    host = await _shelter_host(conn, unit, case_id)
    if host is None:
        return
    network = await unit.network(host)
    network.record_exit(case_id=case_id, reason=reason, on=on)  # and serves that network's waiting list


async def _check_path_date(rt: ServiceRuntime, unit: Unit, case: CaseRow, command: str, on: date | None) -> None:
    """The move's or exit's date against the person's entry into their current housing, the admission, today."""
    placement = await unit.placement(case.case_id)
    dates.check(command, on, {"housed_since": placement.since, "case_opened_on": case.opened_on}, rt.clock)


@router.post("/cases/{case_id}/moves", response_model=PathOut)
async def move(case_id: str, body: MoveIn, caller: Caller = Depends(may("move")),
               rt: ServiceRuntime = RuntimeDep) -> PathOut:  # fmt: skip
    if body.address is not None and body.to is not HousingKind.INDEPENDENT:
        raise RuleViolation("an address is given for independent housing, and only for it", field="address")

    async def work(conn: Any) -> PathOut:
        case = await owned_case(conn, case_id, caller)
        unit = Unit(rt.repository, conn, rt.command_context(caller))
        await _check_path_date(rt, unit, case, "move", body.on)
        day = body.on or today(rt.clock)
        await _leave_shelter(unit, conn, case_id, ExitReason.MOVED_ON, day)
        placement = await unit.placement(case_id)
        event_id, sealed = uuid4(), None
        if body.address is not None:
            # Sealed under the person's key with the event's id: unreadable everywhere once they are erased.
            sealed = await rt.vault.seal(conn, case.person_id, "address", body.address.get_secret_value(),
                                         aad=event_id)  # fmt: skip
        placement.move(to=body.to, on=day, address=sealed, event_id=event_id)
        await unit.commit()
        return PathOut(case_id=case_id, stage=placement.stage, since=placement.since)

    return await run(rt.store.transaction, caller.org, work, body)


@router.post("/cases/{case_id}/exit", response_model=PathOut)
async def exit_housing(case_id: str, body: ExitIn, caller: Caller = Depends(may("exit")),
                       rt: ServiceRuntime = RuntimeDep) -> PathOut:  # fmt: skip
    async def work(conn: Any) -> PathOut:
        await lock_case(conn, case_id)  # before the person's placement is read: a move cannot slip in between
        unit = Unit(rt.repository, conn, rt.command_context(caller))
        # The holder records any end of the person's housing; the host of their shelter records their exit from
        # it (across a transfer the person sleeps where they slept, and only the house sees them leave).
        case = await exit_case(conn, case_id, caller, await _shelter_host(conn, unit, case_id))
        await _check_path_date(rt, unit, case, "exit", body.on)
        day = body.on or today(rt.clock)
        await _leave_shelter(unit, conn, case_id, body.reason, day)
        placement = await unit.placement(case_id)
        placement.end(reason=body.reason, on=day)
        await unit.commit()
        return PathOut(case_id=case_id, stage=placement.stage, since=placement.since)

    return await run(rt.store.transaction, caller.org, work, body)
