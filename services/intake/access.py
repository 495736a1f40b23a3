"""Who may call which intake endpoint: one table, tested as a matrix (tests/integration/test_intake_access.py).

Two checks, in this order:
1. the caller's organisation kind and role (``may``, over ``harbour.access``): a mismatch is ``403``, decided
   before anything is looked up, so it reveals nothing about any referral;
2. the caller's relation to the object (``Scope``; a former holder: the grant's ``Former``): a referral, case
   or person that is not the caller's is ``404`` exactly as if it did not exist, so another centre cannot even
   learn that a person was referred.

Once a case is open its custody (harbour.custody) decides: the centre holding the case acts on the intake
file and reads the person; a former holder (the case was transferred away) gets ``403`` on every command and
on the person, and reads the case's history up to the end of its own period; any other centre ``404``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum

from harbour import access
from harbour.access import AccessTable, Former, Grant
from harbour.auth import Caller, OrgKind, Role
from harbour.custody import Custody, Relation
from harbour.errors import Forbidden, NotFound


class Scope(StrEnum):
    OWN = "own"  # no object: the caller acts for itself (submits, lists its own cases)
    REFERRER_OR_CENTRE = "referrer-or-centre"  # the referring organisation, or the centre holding the referral
    # The centre the referral is addressed to; once admitted, the centre holding the case (a former one: as
    # the grant's ``former`` says: 403, or the history of its own period).
    CENTRE = "centre"
    # The holder, or the Guardianship Service on a case referred to it (its age determination decides).
    CENTRE_OR_GUARDIANSHIP = "centre-or-guardianship"


# First-line services refer; a centre refers too when a person walks in by themselves.
REFERRERS = frozenset({OrgKind.POLICE, OrgKind.INSPECTORATE, OrgKind.FIRST_LINE, OrgKind.CENTRE})
CENTRE = frozenset({OrgKind.CENTRE})
STAFF = frozenset({Role.CASEWORKER, Role.MANAGER})
# In Belgium the Guardianship Service decides on a person's age when there is doubt (Programme Law of
# 24 Dec 2002, Title XIII ch. 6, art. 7: its age determination, by medical test, binds the other authorities);
# so it records that outcome itself, with the basis ``age-assessment`` only (docs/intake-minority.md).
CENTRE_OR_GUARDIANSHIP = frozenset({OrgKind.CENTRE, OrgKind.GUARDIANSHIP_SERVICE})

ACTS = Former.FORBIDDEN  # a former holder may no longer act (403)
READS = Former.OWN_PERIOD  # a former holder reads what was recorded up to the end of its period

# One grant per action: intake's rules never admit one caller in two ways.
ACCESS: AccessTable[str] = {
    "referral.submit": (Grant(REFERRERS, None, Scope.OWN),),
    "referral.read": (Grant(REFERRERS, None, Scope.REFERRER_OR_CENTRE, ACTS),),  # a referrer sees the status only
    "referral.screen": (Grant(CENTRE, STAFF, Scope.CENTRE, ACTS),),
    "referral.decide": (Grant(CENTRE, STAFF, Scope.CENTRE, ACTS),),
    "referral.interview": (Grant(CENTRE, STAFF, Scope.CENTRE, ACTS),),
    "referral.consent": (Grant(CENTRE, STAFF, Scope.CENTRE, ACTS),),
    "referral.identity": (Grant(CENTRE, STAFF, Scope.CENTRE, ACTS),),
    "referral.minor": (Grant(CENTRE, STAFF, Scope.CENTRE, ACTS),),
    "referral.admit": (Grant(CENTRE, STAFF, Scope.CENTRE, ACTS),),
    "case.list": (Grant(CENTRE, STAFF, Scope.OWN),),
    "case.read": (Grant(CENTRE, STAFF, Scope.CENTRE, READS),),
    "case.history": (Grant(CENTRE, STAFF, Scope.CENTRE, READS),),
    "case.minority": (Grant(CENTRE_OR_GUARDIANSHIP, STAFF, Scope.CENTRE_OR_GUARDIANSHIP, ACTS),),
    # Reading a person's identity is casework; a manager decides on erasure and checks who read what. A former
    # holder no longer reads the identity: it guides the person no more.
    "person.read": (Grant(CENTRE, frozenset({Role.CASEWORKER}), Scope.CENTRE, ACTS),),
    "person.erase": (Grant(CENTRE, frozenset({Role.MANAGER}), Scope.CENTRE, ACTS),),
    "person.reads": (Grant(CENTRE, frozenset({Role.MANAGER}), Scope.CENTRE, ACTS),),
    # A tip from the public is the lead of the centre of its region (the tip's routing): only that centre's
    # staff list, read, take up or close it. A lead is never transferred, so no former holder exists.
    "lead.list": (Grant(CENTRE, STAFF, Scope.OWN),),
    "lead.read": (Grant(CENTRE, STAFF, Scope.CENTRE, ACTS),),
    "lead.take-up": (Grant(CENTRE, STAFF, Scope.CENTRE, ACTS),),
    "lead.close": (Grant(CENTRE, STAFF, Scope.CENTRE, ACTS),),
}


def may(action: str) -> Callable[..., Awaitable[Caller]]:
    """FastAPI dependency for ``action``: the verified caller, or 401/403 (the kind and role check)."""
    return access.may(ACCESS, action)


def require_relation(action: str, caller: Caller, *, centre: str | None, referrer: str | None = None,
                     missing: str, custody: Custody | None = None,
                     referred_to_guardianship: bool = False) -> Relation:  # fmt: skip
    """The object check: the caller's relation to it, or 404 (``missing``, the same text as for an unknown id)
    when it is not the caller's, or 403 for a former holder on anything but a read of its period.

    ``custody``: the case's, once admitted (``centre`` then does not count); ``centre``: the centre a referral
    not yet admitted is addressed to. A referrer's relation is NONE (it reads the status only)."""
    (grant,) = ACCESS[action]
    scope = grant.scope
    if scope is Scope.OWN:
        return Relation.OWNER
    if scope is Scope.CENTRE_OR_GUARDIANSHIP and caller.kind is OrgKind.GUARDIANSHIP_SERVICE:
        if referred_to_guardianship:
            return Relation.NONE
        raise NotFound(missing)
    relation = Relation.OWNER if centre is not None and caller.org == centre else Relation.NONE
    if custody is not None:
        relation = custody.relation(caller.org)
    if relation is Relation.OWNER:
        return relation
    if scope is Scope.REFERRER_OR_CENTRE and referrer is not None and caller.org == referrer:
        return Relation.NONE  # a centre that referred a walk-in elsewhere reads its status like any referrer
    if relation is Relation.FORMER:
        if grant.former is Former.OWN_PERIOD:
            return relation
        # It knows the case (it held it), so 403 reveals nothing: the case is simply no longer its to act on.
        raise Forbidden("the case was transferred to another centre, which now holds it")
    raise NotFound(missing)
