"""Who may call what: the type every service's access table is written in, and the gate that enforces it.

A service decides access in two steps, in this order (docs/CONVENTIONS.md, "Access"):

1. **Kind and role**, from the token alone: :func:`may` is the FastAPI dependency of an endpoint. A caller whose
   organisation kind or role no grant of the action admits gets ``403`` before anything is looked up (so it
   learns nothing about any object) and before the body is read (a dependency that raises is resolved before
   FastAPI reports the body's errors, so it never learns the body's shape from a ``422`` either).
2. **Scope**: the caller's relation to the object, checked by the service in the endpoint, because what "its
   case" means differs (the centre holding the case, the office a file is assigned to, the audience of a feed).
   A stranger gets ``404`` exactly as if the object did not exist; a caller that knows the object (a former
   holder) gets ``403``, or reads its own period, as the grant's :class:`Former` says.

The table is data, tested as a matrix (``tests/support/access_contract.py``): ``ACCESS[action]`` is the tuple of
grants any one of which may admit a caller. Each service keeps its own actions and its own ``Scope`` enum.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias, TypeVar

from fastapi import Depends

from harbour.auth import Caller, OrgKind, Role, authenticated
from harbour.errors import Forbidden


class Former(StrEnum):
    """What a grant leaves a centre that held the case before a transfer (``harbour.custody``)."""

    FORBIDDEN = "403: it may no longer act"
    OWN_PERIOD = "reads what was recorded up to its hand-over"
    NOT_APPLICABLE = "-"


@dataclass(frozen=True)
class Grant:
    """One way to be admitted to an action: organisations of these kinds, in these roles, on objects in scope."""

    kinds: frozenset[OrgKind]
    roles: frozenset[Role] | None  # None: any role of those organisations
    scope: StrEnum  # the service's own: whose object it must be (checked in the endpoint, 404 otherwise)
    former: Former = Former.NOT_APPLICABLE

    def admits(self, caller: Caller) -> bool:
        """Whether the token alone (kind and role) lets ``caller`` through this grant."""
        return caller.kind in self.kinds and (self.roles is None or caller.role in self.roles)


Action = TypeVar("Action", bound=str)
# action -> the grants any one of which may admit a caller (a service's actions are strings or a StrEnum).
AccessTable: TypeAlias = Mapping[Action, tuple[Grant, ...]]


def grants_for(table: AccessTable[Action], caller: Caller, action: Action) -> tuple[Grant, ...]:
    """The grants of ``action`` that admit ``caller`` by kind and role; ``403`` when there are none.

    The answer names which of the two failed: no grant for the caller's kind of organisation, or none for its
    role there (both reveal nothing about any object)."""
    grants = table[action]
    of_kind = [g for g in grants if caller.kind in g.kinds]
    if not of_kind:
        raise Forbidden(f"organisations of kind {caller.kind} may not {action}")
    admitted = tuple(g for g in of_kind if g.admits(caller))
    if not admitted:
        raise Forbidden(f"role {caller.role} may not {action}")
    return admitted


def public(action: str, *, declared: Collection[str]) -> Callable[[], None]:
    """The dependency of an endpoint open to anyone, with no token at all: the one exception to ``may``.

    Only a route meant to face the public uses it (signals: the signal check and the anonymous tip line;
    statistics: the reads of public releases), where asking a member of the public for a token would be asking
    who they are. ``action`` must be one of the service's ``declared`` public actions (its ``PUBLIC_ACTIONS``), so
    a route cannot open itself by a typo. It checks nothing at request time; it marks the route so that the
    OpenAPI document states the exception (``x-harbour-access`` with ``public``) and the tests that hold every
    other route to its token know this one is open by design, not by omission."""
    if action not in declared:
        raise KeyError(action)

    def open_to_anyone() -> None:
        return None

    open_to_anyone.harbour_public = action  # type: ignore[attr-defined]
    return open_to_anyone


def may(table: AccessTable[Action], action: Action) -> Callable[..., Awaitable[Caller]]:
    """The FastAPI dependency of an endpoint doing ``action``: the verified caller, or ``401``/``403``.

    A service wraps it once over its own table (``def may(action): return access.may(ACCESS, action)``); an
    action missing from the table is a KeyError when the endpoint is declared, not a request that slips through.
    """
    if not table[action]:
        raise ValueError(f"the access table grants {action!r} to nobody")

    async def check(caller: Caller = Depends(authenticated)) -> Caller:
        grants_for(table, caller, action)
        return caller

    # What the OpenAPI document states of the operation (harbour/http/openapi.py) and where the input guard
    # finds the check to run behind (harbour/http/inputs.py): read from the table, never written twice.
    check.harbour_access = (action, table[action])  # type: ignore[attr-defined]
    return check
