"""Who may read and make releases (tests/integration/test_statistics_access.py).

The national rapporteur (Myria's analysts) makes releases and reads every one; any organisation reads the
releases marked public, and so does anyone without a token under ``/public/releases``; a centre's caseworkers and
managers read their own centre's operational counts, never another centre's (a 404, as if it did not exist).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum

from harbour import access
from harbour.access import AccessTable, Grant
from harbour.auth import Caller, OrgKind, Role


class Scope(StrEnum):
    ANY_PERIOD = "any period that has begun"
    EVERY_RELEASE = "every release"
    PUBLIC_RELEASES = "the releases marked public (any other is a 404)"
    OWN_CENTRE = "the caller's own centre (another centre is a 404)"


MYRIA_ANALYST = Grant(frozenset({OrgKind.MYRIA}), frozenset({Role.ANALYST}), Scope.EVERY_RELEASE)
PUBLIC = Grant(frozenset(OrgKind), None, Scope.PUBLIC_RELEASES)

ACCESS: AccessTable[str] = {
    "release.create": (Grant(frozenset({OrgKind.MYRIA}), frozenset({Role.ANALYST}), Scope.ANY_PERIOD),),
    "release.list": (MYRIA_ANALYST, PUBLIC),
    "release.read": (MYRIA_ANALYST, PUBLIC),
    "operational.read": (
        Grant(frozenset({OrgKind.CENTRE}), frozenset({Role.CASEWORKER, Role.MANAGER}), Scope.OWN_CENTRE),
    ),
}


def may(action: str) -> Callable[..., Awaitable[Caller]]:
    return access.may(ACCESS, action)


# Open to anyone without a token (harbour.access.public): the public releases' reads under /public/. A token
# would ask a member of the public who they are; these routes never show a release that is not public.
PUBLIC_ACTIONS = ("release.read-public",)


def public(action: str) -> Callable[[], None]:
    return access.public(action, declared=PUBLIC_ACTIONS)


def reads_every_release(caller: Caller, action: str) -> bool:
    """Whether the caller reads unpublished releases too (else only public ones)."""
    return any(g.scope is Scope.EVERY_RELEASE for g in access.grants_for(ACCESS, caller, action))
