"""Who may call what on a track: one table, tested as a matrix (tests/integration/test_tracks_access.py).

Two checks, in order. First the caller's kind and role, from the token alone (``may``, over
``harbour.access``: 401/403). Then the caller's centre against the track (``check_scope``): a centre that has
nothing to do with the track gets 404, exactly as if the track did not exist, so that a case's existence never
leaks to another centre. A centre that does know the track (a former owner, the receiving centre of a pending
transfer) gets 403 for what is not its part; a former owner reads what its grant's ``former`` lets it read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum

from harbour import access
from harbour.access import AccessTable, Former, Grant
from harbour.auth import Caller, OrgKind, Role
from harbour.errors import Forbidden, NotFound
from services.tracks.domain import Track


class Scope(StrEnum):
    # The centre that owns the track now (a former owner: as the grant's ``former`` says, 403 or the events up
    # to its last hand-over).
    OWNER = "owner"
    RECEIVING = "receiving"  # the centre a pending transfer request is addressed to
    CENTRE = "centre"  # lists over the caller's own centre; no single track involved


CENTRES = frozenset({OrgKind.CENTRE})  # only centres guide people; every rule is theirs
STAFF = frozenset({Role.CASEWORKER, Role.MANAGER})
MANAGERS = frozenset({Role.MANAGER})


def rule(roles: frozenset[Role], scope: Scope, former: Former = Former.NOT_APPLICABLE) -> tuple[Grant, ...]:
    """The one grant of an action: centres' staff in ``roles``."""
    return (Grant(CENTRES, roles, scope, former),)


ACTS, READS = Former.FORBIDDEN, Former.OWN_PERIOD

# Every endpoint of the service names its rule here. Managers distribute the caseload and decide transfers
# between centres; the guidance itself (plan, sessions, phase, closure) is any of the centre's staff's.
ACCESS: AccessTable[str] = {
    "read_track": rule(STAFF, Scope.OWNER, READS),
    "read_timeline": rule(STAFF, Scope.OWNER, READS),
    "read_session_notes": rule(STAFF, Scope.OWNER, READS),
    "read_goal_words": rule(STAFF, Scope.OWNER, READS),
    "read_caseload": rule(STAFF, Scope.CENTRE),
    "read_incoming_transfers": rule(STAFF, Scope.CENTRE),
    "assign_caseworker": rule(MANAGERS, Scope.OWNER, ACTS),
    "change_phase": rule(STAFF, Scope.OWNER, ACTS),
    "set_goal": rule(STAFF, Scope.OWNER, ACTS),
    "progress_goal": rule(STAFF, Scope.OWNER, ACTS),
    "achieve_goal": rule(STAFF, Scope.OWNER, ACTS),
    "drop_goal": rule(STAFF, Scope.OWNER, ACTS),
    "review_plan": rule(STAFF, Scope.OWNER, ACTS),
    "record_session": rule(STAFF, Scope.OWNER, ACTS),
    "request_transfer": rule(MANAGERS, Scope.OWNER, ACTS),
    "withdraw_transfer": rule(MANAGERS, Scope.OWNER, ACTS),
    "accept_transfer": rule(MANAGERS, Scope.RECEIVING, ACTS),
    "decline_transfer": rule(MANAGERS, Scope.RECEIVING, ACTS),
    "close_track": rule(STAFF, Scope.OWNER, ACTS),
    "reopen_track": rule(STAFF, Scope.OWNER, ACTS),
}


def may(action: str) -> Callable[..., Awaitable[Caller]]:
    """The FastAPI dependency for ``action``: only centres' staff with the rule's roles (401/403)."""
    return access.may(ACCESS, action)


def _is_former_owner(track: Track, centre: str) -> bool:
    return centre != track.owning_centre and any(f.centre == centre for f in track.former_centres)


def _is_receiving(track: Track, centre: str) -> bool:
    return track.pending_transfer is not None and track.pending_transfer.to_centre == centre


def check_scope(track: Track, caller: Caller, action: str) -> None:
    """Raise unless ``caller``'s centre may do ``action`` on ``track`` (404 to strangers, 403 to the others)."""
    (grant,) = ACCESS[action]
    scope, centre = grant.scope, caller.org
    if not track.exists:
        raise NotFound(f"no track {track.id}")
    owner = centre == track.owning_centre
    if scope is Scope.OWNER and (owner or (grant.former is READS and _is_former_owner(track, centre))):
        return
    if scope is Scope.RECEIVING and _is_receiving(track, centre):
        return
    if owner or _is_former_owner(track, centre) or _is_receiving(track, centre):
        raise Forbidden(f"centre {centre} may not {action.replace('_', ' ')} on this track")
    raise NotFound(f"no track {track.id}")


def visible_until(track: Track, centre: str) -> int | None:
    """The last stream version ``centre`` may read: None for the owner (all of it), else the end of its
    last period of ownership (a former owner sees the track as it was when it handed it over)."""
    if centre == track.owning_centre:
        return None
    periods = [f.lost_at_version for f in track.former_centres if f.centre == centre]
    if not periods:
        raise NotFound(f"no track {track.id}")
    return max(periods)
