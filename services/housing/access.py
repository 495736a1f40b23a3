"""Who may call what: the access table of the housing API, and the ownership checks behind it.

Only the three centres use housing. Within a centre, the ``housing`` role runs the shelters (and alone may
read a shelter's secret address), caseworkers place and move their own people, managers do both except
reading addresses. Ownership is checked after the role: another centre's shelter, case or request is
answered 404, exactly as if it did not exist, so that ids cannot be probed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Depends

from harbour.auth import Caller, require
from harbour.errors import NotFound

STAFF = frozenset({"caseworker", "housing", "manager"})
SHELTER_ADMINS = frozenset({"housing", "manager"})
ADDRESS_READERS = frozenset({"housing"})


@dataclass(frozen=True)
class Rule:
    method: str
    path: str
    roles: frozenset[str]
    scope: str  # whose object it must be, checked in the endpoint (404 otherwise)


# The table the API is built from and the access matrix test is parametrized over.
ACCESS: dict[str, Rule] = {
    "register_shelter": Rule("POST", "/housing/shelters", SHELTER_ADMINS, "the caller's centre"),
    "shelter_address": Rule("GET", "/housing/shelters/{shelter_id}/address", ADDRESS_READERS, "owning centre"),
    "bed_out_of_service": Rule(
        "POST", "/housing/shelters/{shelter_id}/beds/{bed_id}/out-of-service", SHELTER_ADMINS, "owning centre"
    ),
    "bed_back_in_service": Rule(
        "POST", "/housing/shelters/{shelter_id}/beds/{bed_id}/in-service", SHELTER_ADMINS, "owning centre"
    ),
    "request_placement": Rule("POST", "/housing/cases/{case_id}/placement-requests", STAFF, "owning centre"),
    "request_cross_centre": Rule("POST", "/housing/cases/{case_id}/cross-centre-requests", STAFF, "owning centre"),
    "accept_cross_centre": Rule("POST", "/housing/requests/{request_id}/accept", SHELTER_ADMINS, "host centre"),
    "decline_cross_centre": Rule("POST", "/housing/requests/{request_id}/decline", SHELTER_ADMINS, "host centre"),
    "withdraw_request": Rule("POST", "/housing/requests/{request_id}/withdraw", STAFF, "centre following the case"),
    "move": Rule("POST", "/housing/cases/{case_id}/moves", STAFF, "owning centre"),
    "exit": Rule("POST", "/housing/cases/{case_id}/exit", STAFF, "owning centre"),
    "occupancy": Rule("GET", "/housing/occupancy", STAFF, "the caller's centre"),
    "occupancy_history": Rule("GET", "/housing/occupancy/history", STAFF, "the caller's centre"),
    "free_beds": Rule("GET", "/housing/free-beds", STAFF, "every centre, totals only"),
    "waiting_list": Rule("GET", "/housing/waiting-list", STAFF, "the caller's centre"),
    "case_history": Rule("GET", "/housing/cases/{case_id}/history", STAFF, "owning centre"),
    "independent_address": Rule("GET", "/housing/cases/{case_id}/independent-address", STAFF, "owning centre"),
}


def allowed(name: str) -> Any:
    """The FastAPI dependency enforcing the row ``name`` of the table: a centre, in one of its roles."""
    return Depends(require(kinds={"centre"}, roles=ACCESS[name].roles))


@dataclass(frozen=True)
class CaseRow:
    case_id: str
    person_id: str
    centre: str


async def owned_case(conn: Any, case_id: str, caller: Caller) -> CaseRow:
    """The case if the caller's centre follows it; 404 for an unknown case and for another centre's."""
    row = await conn.fetchrow("SELECT case_id, person_id, centre FROM case_registry WHERE case_id = $1", case_id)
    if row is None or row["centre"] != caller.org:
        raise NotFound(f"no case {case_id}")
    return CaseRow(row["case_id"], row["person_id"], row["centre"])


async def owned_shelter(conn: Any, shelter_id: str, caller: Caller) -> None:
    centre = await conn.fetchval("SELECT centre FROM housing_shelters WHERE shelter_id = $1", shelter_id)
    if centre is None or centre != caller.org:
        raise NotFound(f"no shelter {shelter_id}")
