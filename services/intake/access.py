"""Who may call which intake endpoint: one table, tested as a matrix (tests/integration/test_intake_access.py).

Two checks, in this order:
1. the caller's organisation kind and role (``require``): a mismatch is ``403``, decided before anything is
   looked up, so it reveals nothing about any referral;
2. the caller's relation to the object (``Scope``): a referral, case or person that is not the caller's is
   ``404`` exactly as if it did not exist, so another centre cannot even learn that a person was referred.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from harbour.auth import Caller, OrgKind, Role, require
from harbour.errors import NotFound


class Scope(StrEnum):
    OWN = "own"  # no object: the caller acts for itself (submits, lists its own cases)
    REFERRER_OR_CENTRE = "referrer-or-centre"  # the referring organisation, or the centre it is addressed to
    CENTRE = "centre"  # only the centre the referral, case or person belongs to


@dataclass(frozen=True)
class Rule:
    kinds: frozenset[OrgKind]
    roles: frozenset[Role] | None  # None: any role of those organisations
    scope: Scope


# First-line services refer; a centre refers too when a person walks in by themselves.
REFERRERS = frozenset({OrgKind.POLICE, OrgKind.INSPECTORATE, OrgKind.FIRST_LINE, OrgKind.CENTRE})
CENTRE = frozenset({OrgKind.CENTRE})
STAFF = frozenset({Role.CASEWORKER, Role.MANAGER})

ACCESS: dict[str, Rule] = {
    "referral.submit": Rule(REFERRERS, None, Scope.OWN),
    "referral.read": Rule(REFERRERS, None, Scope.REFERRER_OR_CENTRE),  # a referrer sees the status only
    "referral.screen": Rule(CENTRE, STAFF, Scope.CENTRE),
    "referral.decide": Rule(CENTRE, STAFF, Scope.CENTRE),
    "referral.interview": Rule(CENTRE, STAFF, Scope.CENTRE),
    "referral.consent": Rule(CENTRE, STAFF, Scope.CENTRE),
    "referral.identity": Rule(CENTRE, STAFF, Scope.CENTRE),
    "referral.minor": Rule(CENTRE, STAFF, Scope.CENTRE),
    "referral.admit": Rule(CENTRE, STAFF, Scope.CENTRE),
    "case.list": Rule(CENTRE, STAFF, Scope.OWN),
    "case.read": Rule(CENTRE, STAFF, Scope.CENTRE),
    # Reading a person's identity is casework; a manager decides on erasure and checks who read what.
    "person.read": Rule(CENTRE, frozenset({Role.CASEWORKER}), Scope.CENTRE),
    "person.erase": Rule(CENTRE, frozenset({Role.MANAGER}), Scope.CENTRE),
    "person.reads": Rule(CENTRE, frozenset({Role.MANAGER}), Scope.CENTRE),
}


def may(action: str) -> Callable[..., Awaitable[Caller]]:
    """FastAPI dependency for ``action``: the verified caller, or 401/403 (the kind and role check)."""
    rule = ACCESS[action]
    return require(kinds=rule.kinds, roles=rule.roles)


def require_relation(action: str, caller: Caller, *, centre: str | None, referrer: str | None = None,
                     missing: str) -> None:  # fmt: skip
    """The object check: 404 (``missing``, the same text as for an unknown id) when it is not the caller's."""
    scope = ACCESS[action].scope
    if scope is Scope.OWN:
        return
    if centre is not None and caller.org == centre:
        return
    if scope is Scope.REFERRER_OR_CENTRE and referrer is not None and caller.org == referrer:
        return
    raise NotFound(missing)
