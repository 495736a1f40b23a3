"""Who may call what on a track: one table, tested as a matrix (tests/integration/test_tracks_access.py).

Two checks, in order. First the caller's kind and role, from the token alone (``allowed``: 401/403). Then the
caller's centre against the track (``check_scope``): a centre that has nothing to do with the track gets 404,
exactly as if the track did not exist, so that a case's existence never leaks to another centre. A centre
that does know the track (a former owner, the receiving centre of a pending transfer) gets 403 for what is
not its part.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from harbour.auth import Caller, OrgKind, Role, require
from harbour.errors import Forbidden, NotFound
from services.tracks.domain import Track


class Scope(StrEnum):
    OWNER = "owner"  # the centre that owns the track now
    OWNER_OR_FORMER = "owner-or-former"  # ... or a former owner, for the events up to its (last) hand-over
    RECEIVING = "receiving"  # the centre a pending transfer request is addressed to
    CENTRE = "centre"  # lists over the caller's own centre; no single track involved


@dataclass(frozen=True)
class Rule:
    roles: frozenset[Role]
    scope: Scope


STAFF = frozenset({Role.CASEWORKER, Role.MANAGER})
MANAGERS = frozenset({Role.MANAGER})

# Every endpoint of the service names its rule here. Managers distribute the caseload and decide transfers
# between centres; the guidance itself (plan, sessions, phase, closure) is any of the centre's staff's.
ACCESS: dict[str, Rule] = {
    "read_track": Rule(STAFF, Scope.OWNER_OR_FORMER),
    "read_timeline": Rule(STAFF, Scope.OWNER_OR_FORMER),
    "read_session_notes": Rule(STAFF, Scope.OWNER_OR_FORMER),
    "read_goal_words": Rule(STAFF, Scope.OWNER_OR_FORMER),
    "read_caseload": Rule(STAFF, Scope.CENTRE),
    "read_incoming_transfers": Rule(STAFF, Scope.CENTRE),
    "assign_caseworker": Rule(MANAGERS, Scope.OWNER),
    "change_phase": Rule(STAFF, Scope.OWNER),
    "set_goal": Rule(STAFF, Scope.OWNER),
    "progress_goal": Rule(STAFF, Scope.OWNER),
    "achieve_goal": Rule(STAFF, Scope.OWNER),
    "drop_goal": Rule(STAFF, Scope.OWNER),
    "review_plan": Rule(STAFF, Scope.OWNER),
    "record_session": Rule(STAFF, Scope.OWNER),
    "request_transfer": Rule(MANAGERS, Scope.OWNER),
    "withdraw_transfer": Rule(MANAGERS, Scope.OWNER),
    "accept_transfer": Rule(MANAGERS, Scope.RECEIVING),
    "decline_transfer": Rule(MANAGERS, Scope.RECEIVING),
    "close_track": Rule(STAFF, Scope.OWNER),
    "reopen_track": Rule(STAFF, Scope.OWNER),
}


def allowed(action: str) -> Callable[..., Awaitable[Caller]]:
    """The FastAPI dependency for ``action``: only centres' staff with the rule's roles (401/403)."""
    return require(kinds={OrgKind.CENTRE}, roles=ACCESS[action].roles)


def _is_former_owner(track: Track, centre: str) -> bool:
    return centre != track.owning_centre and any(f.centre == centre for f in track.former_centres)


def _is_receiving(track: Track, centre: str) -> bool:
    return track.pending_transfer is not None and track.pending_transfer.to_centre == centre


def check_scope(track: Track, caller: Caller, action: str) -> None:
    """Raise unless ``caller``'s centre may do ``action`` on ``track`` (404 to strangers, 403 to the others)."""
    scope = ACCESS[action].scope
    centre = caller.org
    if not track.exists:
        raise NotFound(f"no track {track.id}")
    owner = centre == track.owning_centre
    if scope is Scope.OWNER and owner:
        return
    if scope is Scope.OWNER_OR_FORMER and (owner or _is_former_owner(track, centre)):
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
