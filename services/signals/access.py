"""Who may call what. The public pages and the tip line are open to everyone, without a token: the signals
service is the public's way in, and asking a member of the public for a token would be asking who they are.
Each of those routes is marked with ``harbour.access.public`` so the OpenAPI document states it.

The tip itself, once given, is for the recognised centre it was routed to and nobody else: its staff read what
the tipster wrote (an audited read, with its purpose), its manager erases it and sees who read it. A tip of
another centre is ``404`` exactly like an unknown id; no other kind of organisation may touch a tip (``403``
before anything is looked up). One table, tested as a matrix (tests/integration/test_signals_access.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum

from harbour import access
from harbour.access import AccessTable, Grant
from harbour.auth import Caller, OrgKind, Role
from harbour.errors import NotFound

# The actions open to anyone, one per public endpoint.
PUBLIC_ACTIONS = ("tip.submit",)


class Scope(StrEnum):
    CENTRE = "centre"  # the recognised centre the tip was routed to (the centre of its region)


CENTRE = frozenset({OrgKind.CENTRE})
STAFF = frozenset({Role.CASEWORKER, Role.MANAGER})
MANAGER = frozenset({Role.MANAGER})

# The same split as a person's data in intake: staff read it for the casework; the manager decides on erasure and
# checks who read what. A tip is never transferred, so no former holder exists.
ACCESS: AccessTable[str] = {
    "tip.read": (Grant(CENTRE, STAFF, Scope.CENTRE),),
    "tip.erase": (Grant(CENTRE, MANAGER, Scope.CENTRE),),
    "tip.reads": (Grant(CENTRE, MANAGER, Scope.CENTRE),),
}


def public(action: str) -> Callable[[], None]:
    return access.public(action, declared=PUBLIC_ACTIONS)


def may(action: str) -> Callable[..., Awaitable[Caller]]:
    """FastAPI dependency for ``action``: the verified caller, or 401/403 (the kind and role check)."""
    return access.may(ACCESS, action)


def require_centre(caller: Caller, centre: str | None, *, missing: str) -> None:
    """The object check: a tip not routed to the caller's centre reads exactly like one that does not exist."""
    if centre is None or caller.org != centre:
        raise NotFound(missing)
