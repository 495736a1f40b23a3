"""Who may do what to a case's legal file: one table, tested as a matrix (tests/integration/test_legal_access.py).

Order of the checks, and why: the caller's kind of organisation and role are checked first (403), which
reveals nothing about any case. Only then is the case looked up; a case that is not the caller's to see (another
centre's, or a file assigned to another prosecutor's office) answers 404 exactly as a case that does not exist,
so a caller cannot even learn that a person is followed elsewhere.

The case's centre is the one that holds it now (harbour.custody: the admitting centre, then each accepted
transfer). A former holder knows the case, so it is told 403 on every command; what a grant lets it read is
the file as it stood when it handed the case over (``CaseAccess.held_until``), never a fact recorded after.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from harbour import access
from harbour.access import AccessTable, Former, Grant
from harbour.auth import Caller, OrgKind, Role
from harbour.custody import Custody, Relation
from harbour.errors import Forbidden, NotFound
from services.legal.custody import holder_of


class Scope(StrEnum):
    CASE_CENTRE = "the centre guiding the case"
    COMPETENT_OFFICE = "the prosecutor's office or labour auditorate the file is assigned to"
    NATIONAL = "any case (the Immigration Office decides on every residence document in the country)"
    OWN_CENTRE = "the caller's own centre, the one the path names (another centre's is 403: centre ids are public)"


class Action(StrEnum):
    OPEN_ON_REQUEST = "open-on-request"
    REQUEST_DOCUMENT = "request-document"
    REQUEST_RENEWAL = "request-renewal"
    DECIDE = "decide"
    CHOOSE_RETURN = "choose-voluntary-return"
    END_STATUS = "end-status"
    READ_RESIDENCE = "read-residence"
    RECORD_STATEMENT = "record-statement"
    ASSIGN_FILE = "assign-file"
    REQUEST_OPINION = "request-opinion"
    GIVE_OPINION = "give-opinion"
    RECORD_STAGE = "record-stage"
    SCHEDULE_HEARING = "schedule-hearing"
    JOIN_CIVIL_PARTY = "join-civil-party"
    FILE_REQUISITIONS = "file-requisitions"
    RECORD_VERDICT = "record-verdict"
    LODGE_APPEAL = "lodge-appeal"
    AWARD_COMPENSATION = "award-compensation"
    CONCLUDE = "conclude"
    READ_PROCEEDINGS = "read-proceedings"
    READ_DEADLINES = "read-deadlines"


R = Role
CENTRE = frozenset({OrgKind.CENTRE})
IMMIGRATION = frozenset({OrgKind.IMMIGRATION_OFFICE})
PROSECUTION = frozenset({OrgKind.PROSECUTION})  # prosecutor's offices and labour auditorates
CENTRE_WRITES = Grant(CENTRE, frozenset({R.CASEWORKER}), Scope.CASE_CENTRE, Former.FORBIDDEN)
CENTRE_READS = Grant(CENTRE, frozenset({R.CASEWORKER, R.MANAGER}), Scope.CASE_CENTRE, Former.OWN_PERIOD)
IMMIGRATION_DECIDES = Grant(IMMIGRATION, frozenset({R.OFFICER}), Scope.NATIONAL)
IMMIGRATION_READS = Grant(IMMIGRATION, frozenset({R.OFFICER, R.CLERK}), Scope.NATIONAL)
MAGISTRATE_WRITES = Grant(PROSECUTION, frozenset({R.MAGISTRATE}), Scope.COMPETENT_OFFICE)
OFFICE_READS = Grant(PROSECUTION, frozenset({R.MAGISTRATE, R.CLERK}), Scope.COMPETENT_OFFICE)

# The residence steps are the centre's (only a recognised centre may request victim status), the decisions the
# Immigration Office's, the opinions the competent magistrate's. Facts of the criminal case are recorded by the
# centre (it follows the juridical area of the track) or by the competent office, whichever learns them first.
ACCESS: AccessTable[Action] = {
    Action.OPEN_ON_REQUEST: (CENTRE_WRITES,),
    Action.REQUEST_DOCUMENT: (CENTRE_WRITES,),
    Action.REQUEST_RENEWAL: (CENTRE_WRITES,),
    Action.DECIDE: (IMMIGRATION_DECIDES,),
    Action.CHOOSE_RETURN: (CENTRE_WRITES,),
    Action.END_STATUS: (CENTRE_WRITES,),
    # The magistrate needs the residence-document stage (DOMAIN §1); the Immigration Office its own decisions.
    Action.READ_RESIDENCE: (CENTRE_READS, IMMIGRATION_READS, OFFICE_READS),
    Action.RECORD_STATEMENT: (CENTRE_WRITES,),
    Action.ASSIGN_FILE: (CENTRE_WRITES, MAGISTRATE_WRITES),  # the office in charge may pass the file on
    # The Immigration Office asks the prosecutor before it issues (DOMAIN §2); a centre may ask too.
    Action.REQUEST_OPINION: (CENTRE_WRITES, IMMIGRATION_DECIDES),
    Action.GIVE_OPINION: (MAGISTRATE_WRITES,),
    Action.RECORD_STAGE: (CENTRE_WRITES, MAGISTRATE_WRITES),
    Action.SCHEDULE_HEARING: (CENTRE_WRITES, MAGISTRATE_WRITES),
    Action.JOIN_CIVIL_PARTY: (CENTRE_WRITES,),
    Action.FILE_REQUISITIONS: (CENTRE_WRITES, MAGISTRATE_WRITES),
    Action.RECORD_VERDICT: (CENTRE_WRITES, MAGISTRATE_WRITES),
    Action.LODGE_APPEAL: (CENTRE_WRITES, MAGISTRATE_WRITES),
    Action.AWARD_COMPENSATION: (CENTRE_WRITES,),
    Action.CONCLUDE: (CENTRE_WRITES, MAGISTRATE_WRITES),
    Action.READ_PROCEEDINGS: (CENTRE_READS, OFFICE_READS),
    # A centre's upcoming deadlines, across the cases it holds now: its own staff only.
    Action.READ_DEADLINES: (Grant(CENTRE, frozenset({R.CASEWORKER, R.MANAGER}), Scope.OWN_CENTRE),),
}


@dataclass(frozen=True)
class CaseAccess:
    """The read-model row access is decided on (table legal_cases), with the case's holder (case_custody)."""

    case_id: str
    centre: str  # the centre that holds the case now
    unaccompanied_minor: bool
    eu_citizen: bool
    opened_on: date
    office: str | None
    # Set when the caller is admitted as a former holder: it reads what was recorded up to then, nothing after.
    held_until: datetime | None = None
    custody: Custody | None = None  # None only for a CaseAccess built by hand (tests)

    def relation(self, org: str | None) -> Relation:
        if self.custody is None:
            return Relation.OWNER if org == self.centre else Relation.NONE
        return self.custody.relation(org)


class _Verdict(StrEnum):
    ADMIT = "admit"
    OWN_PERIOD = "own period"
    FORBID = "forbid"
    HIDE = "hide"


def _judge(grant: Grant, caller: Caller, case: CaseAccess) -> _Verdict:
    match grant.scope:
        case Scope.CASE_CENTRE:
            match case.relation(caller.org):
                case Relation.OWNER:
                    return _Verdict.ADMIT
                case Relation.FORMER:
                    return _Verdict.OWN_PERIOD if grant.former is Former.OWN_PERIOD else _Verdict.FORBID
                case Relation.NONE:
                    return _Verdict.HIDE
        case Scope.COMPETENT_OFFICE:
            return _Verdict.ADMIT if case.office is not None and caller.org == case.office else _Verdict.HIDE
        case Scope.NATIONAL:
            return _Verdict.ADMIT


def may(action: Action) -> Callable[..., Awaitable[Caller]]:
    """FastAPI dependency: the verified caller if its kind and role may ``action`` on some case, else 401/403
    (before the body is read: ``harbour.access.may``)."""
    return access.may(ACCESS, action)


async def find_case(conn: Any, case_id: str) -> CaseAccess | None:
    row = await conn.fetchrow(
        """SELECT case_id, centre, unaccompanied_minor, eu_citizen, opened_on, office
           FROM legal_cases WHERE case_id = $1""",
        case_id,
    )
    if row is None:
        return None
    held = await holder_of(conn, case_id, fallback=row["centre"])
    return CaseAccess(**{**dict(row), "centre": held.centre}, custody=held)


async def authorize(conn: Any, caller: Caller, case_id: str, action: Action) -> CaseAccess:
    """The case, if ``caller`` may do ``action`` on it: 403 for the wrong kind or role, else 404 if not theirs.

    A former holder of the case gets 403 where only its centre grant would have admitted it to act, and the
    case with ``held_until`` set where that grant lets it read its own period. The widest verdict wins: a
    magistrate is admitted by its office whatever a centre grant says."""
    grants = access.grants_for(ACCESS, caller, action)
    case = await find_case(conn, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    verdicts = {_judge(g, caller, case) for g in grants}
    if _Verdict.ADMIT in verdicts:
        return case
    if _Verdict.OWN_PERIOD in verdicts:
        assert case.custody is not None
        return replace(case, held_until=case.custody.held_until(caller.org))
    if _Verdict.FORBID in verdicts:
        raise Forbidden(f"the case {case_id} is held by another centre since its transfer")
    raise NotFound(f"no case {case_id}")
