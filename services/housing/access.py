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

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from harbour import access, custody
from harbour.access import AccessTable, Former, Grant
from harbour.auth import Caller, OrgKind, Role
from harbour.custody import Custody, Relation
from harbour.errors import Forbidden, NotFound


class Scope(StrEnum):
    """Whose object it must be, checked in the endpoint (404 otherwise)."""

    CALLERS_CENTRE = "the caller's centre"
    OWNING_CENTRE = "owning centre"  # of the shelter, or holding the case (a former holder: the grant's former)
    HOST_CENTRE = "host centre"  # the centre a cross-centre request asks for a bed
    FOLLOWING_CENTRE = "centre following the case"
    OWNER_OR_HOST = "owning centre, or the host of the person's shelter"
    EVERY_CENTRE = "every centre, totals only"


CENTRES = frozenset({OrgKind.CENTRE})  # only the three centres use housing
STAFF = frozenset({Role.CASEWORKER, Role.HOUSING, Role.MANAGER})
SHELTER_ADMINS = frozenset({Role.HOUSING, Role.MANAGER})
ADDRESS_READERS = frozenset({Role.HOUSING})
ACTS, READS = Former.FORBIDDEN, Former.OWN_PERIOD


def rule(roles: frozenset[Role], scope: Scope, former: Former = Former.NOT_APPLICABLE) -> tuple[Grant, ...]:
    """The one grant of an action: a centre, in one of ``roles``."""
    return (Grant(CENTRES, roles, scope, former),)


# Every endpoint names its row here; the access matrix test (tests/integration/test_housing_access.py) is
# parametrized over it.
ACCESS: AccessTable[str] = {
    "register_shelter": rule(SHELTER_ADMINS, Scope.CALLERS_CENTRE),
    "shelter_address": rule(ADDRESS_READERS, Scope.OWNING_CENTRE),
    "bed_out_of_service": rule(SHELTER_ADMINS, Scope.OWNING_CENTRE),
    "bed_back_in_service": rule(SHELTER_ADMINS, Scope.OWNING_CENTRE),
    "add_bed": rule(SHELTER_ADMINS, Scope.OWNING_CENTRE),
    "request_placement": rule(STAFF, Scope.OWNING_CENTRE, ACTS),
    "request_cross_centre": rule(STAFF, Scope.OWNING_CENTRE, ACTS),
    "accept_cross_centre": rule(SHELTER_ADMINS, Scope.HOST_CENTRE),
    "decline_cross_centre": rule(SHELTER_ADMINS, Scope.HOST_CENTRE),
    "withdraw_request": rule(STAFF, Scope.FOLLOWING_CENTRE, ACTS),
    "move": rule(STAFF, Scope.OWNING_CENTRE, ACTS),
    "exit": rule(STAFF, Scope.OWNER_OR_HOST, ACTS),
    "occupancy": rule(STAFF, Scope.CALLERS_CENTRE),
    "occupancy_history": rule(STAFF, Scope.CALLERS_CENTRE),
    "free_beds": rule(STAFF, Scope.EVERY_CENTRE),
    "waiting_list": rule(STAFF, Scope.CALLERS_CENTRE),
    "case_history": rule(STAFF, Scope.OWNING_CENTRE, READS),
    "independent_address": rule(STAFF, Scope.OWNING_CENTRE, ACTS),
}


def may(action: str) -> Callable[..., Awaitable[Caller]]:
    """The FastAPI dependency enforcing the row ``action`` of the table: a centre, in one of its roles."""
    return access.may(ACCESS, action)


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
