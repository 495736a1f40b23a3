"""Who may call what: the access table of the housing API, and the ownership checks behind it.

Only the three centres use housing. Within a centre, the ``housing`` role runs the shelters (and alone may
read a shelter's secret address), caseworkers place and move their own people, managers do both except
reading addresses. Ownership is checked after the role: another centre's shelter, case or request is
answered 404, exactly as if it did not exist, so that ids cannot be probed.

A case's owner is the centre that holds it now (``harbour.custody``: the admitting centre, then each centre
that accepted a transfer, as tracks published it). Only the holder acts on the case; a former holder gets 403
on every command and reads the case's history as recorded in its own period(s); any other centre gets 404.
One exception, on purpose: the centre that runs the shelter a person sleeps in (the *host*) may record that
person's exit from its house whoever holds the case, since a bed is freed where the person actually left it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi import Depends

from harbour import custody
from harbour.auth import Caller, require
from harbour.custody import Custody, Relation
from harbour.errors import Forbidden, NotFound

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
    "add_bed": Rule("POST", "/housing/shelters/{shelter_id}/beds", SHELTER_ADMINS, "owning centre"),
    "request_placement": Rule("POST", "/housing/cases/{case_id}/placement-requests", STAFF, "owning centre"),
    "request_cross_centre": Rule("POST", "/housing/cases/{case_id}/cross-centre-requests", STAFF, "owning centre"),
    "accept_cross_centre": Rule("POST", "/housing/requests/{request_id}/accept", SHELTER_ADMINS, "host centre"),
    "decline_cross_centre": Rule("POST", "/housing/requests/{request_id}/decline", SHELTER_ADMINS, "host centre"),
    "withdraw_request": Rule("POST", "/housing/requests/{request_id}/withdraw", STAFF, "centre following the case"),
    "move": Rule("POST", "/housing/cases/{case_id}/moves", STAFF, "owning centre"),
    "exit": Rule("POST", "/housing/cases/{case_id}/exit", STAFF, "owning centre, or the host of the person's shelter"),
    "occupancy": Rule("GET", "/housing/occupancy", STAFF, "the caller's centre"),
    "occupancy_history": Rule("GET", "/housing/occupancy/history", STAFF, "the caller's centre"),
    "free_beds": Rule("GET", "/housing/free-beds", STAFF, "every centre, totals only"),
    "waiting_list": Rule("GET", "/housing/waiting-list", STAFF, "the caller's centre"),
    "case_history": Rule("GET", "/housing/cases/{case_id}/history", STAFF, "owning centre; a former one: its period"),
    "independent_address": Rule("GET", "/housing/cases/{case_id}/independent-address", STAFF, "owning centre"),
}


def allowed(name: str) -> Any:
    """The FastAPI dependency enforcing the row ``name`` of the table: a centre, in one of its roles."""
    return Depends(require(kinds={"centre"}, roles=ACCESS[name].roles))


@dataclass(frozen=True)
class CaseRow:
    case_id: str
    person_id: str
    centre: str  # the centre holding the case now
    opened_on: date
    custody: Custody


async def lock_case(conn: Any, case_id: str) -> None:
    # Serialises a command on the case with the hand-over of the case (handlers.on_transfer_accepted) until
    # commit: a former holder's command either commits before the hand-over is applied or reads it and gets
    # 403, so two centres never both act on one case.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"housing.case:{case_id}")


async def _load_case(conn: Any, case_id: str) -> CaseRow | None:
    row = await conn.fetchrow("SELECT case_id, person_id, opened_on FROM case_registry WHERE case_id = $1", case_id)
    held = await custody.load(conn, case_id) if row is not None else None
    if row is None or held is None:
        return None  # housing does not follow the case (yet): like another centre's, it does not exist here
    return CaseRow(row["case_id"], row["person_id"], held.centre, row["opened_on"], held)


async def _case(conn: Any, case_id: str, caller: Caller) -> tuple[CaseRow, Relation]:
    case = await _load_case(conn, case_id)
    relation = case.custody.relation(caller.org) if case is not None else Relation.NONE
    if case is None or relation is Relation.NONE:
        raise NotFound(f"no case {case_id}")
    return case, relation


async def owned_case(conn: Any, case_id: str, caller: Caller, *, act: bool = True) -> CaseRow:
    """The case if the caller's centre holds it now. A former holder: 403; an unknown case or another centre's:
    404. ``act``: the caller is about to change the case (the case is locked against a hand-over first)."""
    if act:
        await lock_case(conn, case_id)
    case, relation = await _case(conn, case_id, caller)
    if relation is Relation.FORMER:
        raise Forbidden(f"centre {caller.org} no longer holds case {case_id}")
    return case


async def exit_case(conn: Any, case_id: str, caller: Caller, host: str | None) -> CaseRow:
    """As :func:`owned_case`, but the centre running the person's shelter (``host``) may record the exit too."""
    await lock_case(conn, case_id)
    if host is not None and host == caller.org:
        case = await _load_case(conn, case_id)
        if case is not None:
            return case
    return await owned_case(conn, case_id, caller, act=False)


@dataclass(frozen=True)
class Reading:
    """What a caller may read of a case's history: all of it (the holder), or what this service recorded up to
    the end of the caller's last period (a former holder: the case as it handed it over, as in tracks)."""

    case: CaseRow
    relation: Relation
    centre: str

    @property
    def until(self) -> datetime | None:
        """The end of the caller's last period; None for the holder. A period ends when any later hand-over was
        applied, the earliest of them: applied out of order (the second transfer of a chain consumed before the
        first), a later holder's period may begin before an earlier one's."""
        if self.relation is Relation.OWNER:
            return None
        periods = self.case.custody.periods
        ends = [min(p.since_at for p in periods[i + 1 :]) for i, period in enumerate(periods[:-1])
                if period.centre == self.centre]  # fmt: skip
        return max(ends)

    def may_read(self, recorded_at: datetime) -> bool:
        until = self.until
        return until is None or recorded_at <= until


async def readable_case(conn: Any, case_id: str, caller: Caller) -> Reading:
    """The case for a read: its holder reads all, a former holder its own period(s), anyone else gets 404."""
    case, relation = await _case(conn, case_id, caller)
    return Reading(case, relation, caller.org)


async def owned_shelter(conn: Any, shelter_id: str, caller: Caller) -> None:
    centre = await conn.fetchval("SELECT centre FROM housing_shelters WHERE shelter_id = $1", shelter_id)
    if centre is None or centre != caller.org:
        raise NotFound(f"no shelter {shelter_id}")
