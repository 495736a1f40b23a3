"""Shelters: registering one with its secret address, reading that address, adding a bed, beds out of and back in
service. Every change that adds capacity (a shelter, a bed, a bed back in service) serves the waiting list."""

from __future__ import annotations

from uuid import uuid4

from fastapi import APIRouter, Depends, Response

from harbour.audit import read_purpose, record_read
from harbour.auth import Caller
from harbour.errors import NotFound, RuleViolation
from harbour.service import RuntimeDep, ServiceRuntime
from services.housing import dates
from services.housing.access import may, owned_shelter
from services.housing.api.models import AddBed, BedDate, RegisterShelter, ShelterAddress, ShelterOut
from services.housing.commands import Unit, run, today

router = APIRouter(prefix="/housing/shelters", tags=["shelters"])


@router.post("", status_code=201, response_model=ShelterOut)
async def register_shelter(
    body: RegisterShelter, caller: Caller = Depends(may("register_shelter")), rt: ServiceRuntime = RuntimeDep
) -> ShelterOut:
    if len({b.bed_id for b in body.beds}) != len(body.beds):
        raise RuleViolation("bed ids must be unique within a shelter", field="beds")
    # Chosen here, not by the client: ids are unique across centres and say nothing about the place.
    shelter_id = f"sh-{uuid4().hex[:12]}"

    async def work(conn: object) -> ShelterOut:
        unit = Unit(rt.repository, conn, rt.command_context(caller))
        network = await unit.network(caller.org)
        network.register_shelter(
            shelter_id=shelter_id, beds={b.bed_id: b.constraints for b in body.beds}, on=today(rt.clock)
        )  # its beds serve the waiting list at once
        await unit.commit()
        # The name and the address go to housing's own tables only, in the same transaction as the registration
        # (the event names the shelter by id): a shelter is never registered without them, nor they without it.
        await conn.execute(  # type: ignore[attr-defined]
            "INSERT INTO shelter_names (shelter_id, centre, name) VALUES ($1, $2, $3)",
            shelter_id, caller.org, body.name,
        )  # fmt: skip
        await conn.execute(  # type: ignore[attr-defined]
            "INSERT INTO shelter_addresses (shelter_id, centre, address) VALUES ($1, $2, $3)",
            shelter_id, caller.org, body.address.get_secret_value(),
        )  # fmt: skip
        # Never the address: the answer is stored with the Idempotency-Key (the name stays in housing's database).
        return ShelterOut(shelter_id=shelter_id, centre=caller.org, name=body.name, beds=len(body.beds))

    return await run(rt.store.transaction, caller.org, work, body)


@router.get("/{shelter_id}/address", response_model=ShelterAddress)
async def shelter_address(
    shelter_id: str,
    caller: Caller = Depends(may("shelter_address")),
    purpose: str = Depends(read_purpose),
    rt: ServiceRuntime = RuntimeDep,
) -> ShelterAddress:
    async with rt.store.transaction() as conn:
        await owned_shelter(conn, shelter_id, caller)
        address = await conn.fetchval("SELECT address FROM shelter_addresses WHERE shelter_id = $1", shelter_id)
        if address is None:
            raise NotFound(f"no shelter {shelter_id}")
        # Audited in the read's own transaction: an address that is served is an address whose read is recorded.
        await record_read(conn, org=caller.org, role=str(caller.role), user=caller.user,
                          person_id=f"shelter:{shelter_id}", what="shelter.address", purpose=purpose,
                          at=rt.clock.now())  # fmt: skip
    return ShelterAddress(shelter_id=shelter_id, address=address)


async def _bed_command(rt: ServiceRuntime, caller: Caller, shelter_id: str, bed_id: str, body: BedDate,
                       in_service: bool) -> Response:  # fmt: skip
    day = body.on or today(rt.clock)

    async def work(conn: object) -> None:
        await owned_shelter(conn, shelter_id, caller)
        dates.check("bed-in-service" if in_service else "bed-out-of-service", body.on, {}, rt.clock)
        unit = Unit(rt.repository, conn, rt.command_context(caller))
        network = await unit.network(caller.org)
        if in_service:
            network.return_bed_to_service(shelter_id=shelter_id, bed_id=bed_id, on=day)  # may serve the list
        else:
            network.take_bed_out_of_service(shelter_id=shelter_id, bed_id=bed_id, on=day)
        await unit.commit()

    return await run(rt.store.transaction, caller.org, work, body)  # a 204: nothing to store but the status


@router.post("/{shelter_id}/beds/{bed_id}/out-of-service", status_code=204)
async def bed_out_of_service(
    shelter_id: str, bed_id: str, body: BedDate,
    caller: Caller = Depends(may("bed_out_of_service")), rt: ServiceRuntime = RuntimeDep,
) -> None:  # fmt: skip
    return await _bed_command(rt, caller, shelter_id, bed_id, body, in_service=False)


@router.post("/{shelter_id}/beds/{bed_id}/in-service", status_code=204)
async def bed_back_in_service(
    shelter_id: str, bed_id: str, body: BedDate,
    caller: Caller = Depends(may("bed_back_in_service")), rt: ServiceRuntime = RuntimeDep,
) -> None:  # fmt: skip
    return await _bed_command(rt, caller, shelter_id, bed_id, body, in_service=True)


@router.post("/{shelter_id}/beds", status_code=204)
async def add_bed(
    shelter_id: str, body: AddBed, caller: Caller = Depends(may("add_bed")), rt: ServiceRuntime = RuntimeDep,
) -> None:  # fmt: skip
    """One more bed in a registered shelter; it goes at once to the first fitting person on the waiting list."""

    async def work(conn: object) -> None:
        await owned_shelter(conn, shelter_id, caller)
        dates.check("add-bed", body.on, {}, rt.clock)
        unit = Unit(rt.repository, conn, rt.command_context(caller))
        network = await unit.network(caller.org)
        network.add_bed(shelter_id=shelter_id, bed_id=body.bed_id, constraints=body.constraints,
                        on=body.on or today(rt.clock))  # fmt: skip
        await unit.commit()

    return await run(rt.store.transaction, caller.org, work, body)  # a 204, as the bed commands
