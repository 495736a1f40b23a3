"""Helpers for housing's integration tests: a running housing service beside a real intake upstream."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from schemas.intake import CaseOpened, Centre, PersonErased, Region, Urgency
from tests.support.harness import RunningService
from tests.support.upstream import Upstream
from tests.support.waiting import wait_until

PURPOSE = {"Harbour-Purpose": "placing the person tonight"}


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def open_case(housing: RunningService, intake: Upstream, centre: str, *, tonight: bool = False,
                    person_id: str | None = None, wait: bool = True) -> tuple[str, str]:  # fmt: skip
    """Publish a real ``CaseOpened`` on intake's topic and wait until housing follows the case."""
    case_id, person_id = new_id("case"), person_id or new_id("person")
    event = CaseOpened(
        case_id=case_id, referral_id=new_id("ref"), centre=Centre(centre), person_id=person_id, minor=False,
        eu_citizen=False, urgency=(Urgency.NEEDS_SHELTER_TONIGHT,) if tonight else (),
        needs_shelter_tonight=tonight, referring_organisation_id="police-federal", region=Region.FLANDERS,
        opened_on=date(2026, 1, 5),
    )  # fmt: skip
    await intake.publish(f"case-{case_id}", case_id, [event])
    if wait:
        await wait_until(lambda: known(housing, case_id), timeout=30)
    return case_id, person_id


async def erase_person(intake: Upstream, person_id: str) -> None:
    event = PersonErased(person_id=person_id, reason="person-request", erased_on=date(2026, 2, 1))  # type: ignore[arg-type]
    await intake.publish(f"person-{person_id}", person_id, [event])


async def known(housing: RunningService, case_id: str) -> bool:
    async with housing.runtime.pool.acquire() as conn:
        return await conn.fetchval("SELECT 1 FROM case_registry WHERE case_id = $1", case_id) is not None


async def register_shelter(housing: RunningService, centre: str, beds: dict[str, list[str]], *,
                           address: str = "Rue Secrète 1, 1000 Bruxelles", name: str = "House") -> str:  # fmt: skip
    body = {"name": name, "address": address,
            "beds": [{"bed_id": b, "constraints": c} for b, c in beds.items()]}  # fmt: skip
    response = await housing.client.post("/housing/shelters", json=body, headers=housing.token(centre, "housing"))
    assert response.status_code == 201, response.text
    return response.json()["shelter_id"]


async def request_bed(housing: RunningService, centre: str, case_id: str, **body: Any) -> dict[str, Any]:
    response = await housing.client.post(f"/housing/cases/{case_id}/placement-requests", json=body,
                                         headers=housing.token(centre, "caseworker"))  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()


async def exit_case(housing: RunningService, centre: str, case_id: str, reason: str = "moved-on") -> None:
    response = await housing.client.post(f"/housing/cases/{case_id}/exit", json={"reason": reason},
                                         headers=housing.token(centre, "caseworker"))  # fmt: skip
    assert response.status_code == 200, response.text
