"""Who may read a feed: the audience itself, and no one else (tests/integration/test_feeds_access.py).

The same two steps as every service (``harbour.access``), the first one open: any organisation's token may ask
(``may``: 401 without a valid one), since every audience is an organisation of its own kind. Then the scope, in
:func:`readable_feed`: an audience that does not exist is a 404 for everyone, and another audience's feed a 403,
since another office's milestones are exactly what the audience split exists to keep from it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi import Depends, Path

from harbour import access
from harbour.access import AccessTable, Grant
from harbour.auth import Caller, OrgKind
from harbour.errors import Forbidden, NotFound
from services.feeds.domain import audiences, is_audience


class Scope(StrEnum):
    AUDIENCE = "the audience itself: the token's organisation is the audience"


ACCESS: AccessTable[str] = {
    # Every kind, every role: which organisation asks is the scope's question, answered per feed.
    "feed.read": (Grant(frozenset(OrgKind), None, Scope.AUDIENCE),),
    # An office's webhooks are its feed sent to it: the same rule as reading it (services/feeds/webhooks/).
    "webhook.register": (Grant(frozenset(OrgKind), None, Scope.AUDIENCE),),
    "webhook.read": (Grant(frozenset(OrgKind), None, Scope.AUDIENCE),),
    "webhook.resume": (Grant(frozenset(OrgKind), None, Scope.AUDIENCE),),
}


def may(action: str) -> Callable[..., Awaitable[Caller]]:
    """The FastAPI dependency for ``action``: the verified caller (401 without a valid token)."""
    return access.may(ACCESS, action)


def _audience_ids(schema: dict[str, Any]) -> None:
    # Read when the OpenAPI document is made, so it lists the audiences of the configured police zones.
    schema["enum"] = audiences()


# The closed list of audiences in the OpenAPI document; any other name is still answered, with a 404.
AUDIENCE = Path(description="the audience's id: its organisation", json_schema_extra=_audience_ids)


def _own_audience(audience: str, caller: Caller) -> str:
    if not is_audience(audience):
        raise NotFound(f"there is no feed for {audience!r}", field="audience")
    if caller.org != audience:
        raise Forbidden("only the audience itself reads its feed", field="audience")
    return audience


def readable_feed(audience: str = AUDIENCE, caller: Caller = Depends(may("feed.read"))) -> str:
    """The audience whose feed is asked for, once the caller may read it (401 before 404 before 403)."""
    return _own_audience(audience, caller)


@dataclass(frozen=True)
class OwnFeed:
    """An audience and its own caller, once the caller may do the action on that audience's feed."""

    audience: str
    caller: Caller


def own_feed(action: str) -> Callable[..., OwnFeed]:
    """The dependency of an endpoint acting on the caller's own feed (its webhooks): the same checks as a read."""

    def check(audience: str = AUDIENCE, caller: Caller = Depends(may(action))) -> OwnFeed:
        return OwnFeed(_own_audience(audience, caller), caller)

    return check
