"""HTTP queries: one track, its timeline, a caseworker's caseload, incoming transfers, and the two audited
reads of sealed words (session notes; a goal's own words and drop reason).

A former owner reads the track as it was when it handed it over, and the timeline entries and words recorded up
to that hand-over, none after (``Track.may_read``); everyone else outside the owning centre gets 403/404
(``access``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import StringConstraints

from harbour.audit import read_purpose, record_read
from harbour.auth import Caller, Role
from harbour.errors import Forbidden, NotFound
from harbour.http.pages import CURSOR_PATTERN, cursor, integer, read_cursor, text
from harbour.pii import ERASED, Sealed
from harbour.service import RuntimeDep, ServiceRuntime
from harbour.store import RecordedEvent
from services.tracks.access import check_scope, may, visible_until
from services.tracks.api.models import (
    Caseload,
    CaseloadTrack,
    IncomingTransfer,
    IncomingTransfers,
    SealedText,
    Timeline,
    TimelineEntry,
    TrackView,
    track_view,
)
from services.tracks.domain import Track

router = APIRouter(tags=["tracks"])
CaseId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
DEFAULT_PAGE = 100
MAX_PAGE = 500


async def _load(rt: ServiceRuntime, case_id: str, conn: Any) -> tuple[Track, list[RecordedEvent]]:
    events = await rt.store.read_stream(f"{Track.stream_type}-{case_id}", conn=conn)
    track = Track(case_id)
    track.replay(r.event for r in events)
    return track, events


@router.get("/tracks/{case_id}", response_model=TrackView)
async def read_track(case_id: CaseId, caller: Caller = Depends(may("read_track")),
                     rt: ServiceRuntime = RuntimeDep) -> TrackView:  # fmt: skip
    async with rt.pool.acquire() as conn:
        track, events = await _load(rt, case_id, conn)
    check_scope(track, caller, "read_track")
    until = visible_until(track, caller.org)
    if until is None:
        return track_view(track)
    handed_over = Track(case_id)
    handed_over.replay(r.event for r in events[:until])
    return track_view(handed_over, as_former_owner=True)


@router.get("/tracks/{case_id}/timeline", response_model=Timeline)
async def read_timeline(
    case_id: CaseId,
    after: Annotated[str | None, Query(max_length=100, pattern=CURSOR_PATTERN,
                                       description="`next` of the previous page; absent for the first page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    caller: Caller = Depends(may("read_timeline")),
    rt: ServiceRuntime = RuntimeDep,
) -> Timeline:  # fmt: skip
    """What happened on the track, a page at a time, oldest first (a former owner: up to its hand-over)."""
    start = read_cursor(after, integer)[0] if after is not None else None
    async with rt.pool.acquire() as conn:
        track, _ = await _load(rt, case_id, conn)
        check_scope(track, caller, "read_timeline")
        # Keyset on the stream version (unique on a track): an entry recorded between two page reads comes after
        # the cursor and appears once, on a later page. A former owner's pages end at its hand-over
        # (``visible_until``: what it may read is a prefix of the track). One row more tells whether a next
        # page exists without a count query.
        rows = await conn.fetch(
            """SELECT version, event_type, occurred_at, actor_org, facts::text AS facts FROM track_timeline
               WHERE case_id = $1 AND ($2::bigint IS NULL OR version > $2)
                 AND ($3::bigint IS NULL OR version <= $3)
               ORDER BY version LIMIT $4""",
            case_id, start, visible_until(track, caller.org), limit + 1,
        )  # fmt: skip
    page = rows[:limit]
    entries = [
        TimelineEntry(
            version=row["version"],
            event_type=row["event_type"],
            occurred_at=row["occurred_at"],
            by=row["actor_org"],
            facts=json.loads(row["facts"]),
        )
        for row in page
    ]
    following = cursor(page[-1]["version"]) if len(rows) > limit else None
    return Timeline(case_id=case_id, items=entries, next=following)


@router.get("/caseload", response_model=Caseload)
async def read_caseload(
    caseworker_id: Annotated[str | None, Query(max_length=64)] = None,
    after: Annotated[str | None, Query(max_length=300, pattern=CURSOR_PATTERN,
                                       description="`next` of the previous page; absent for the first page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    caller: Caller = Depends(may("read_caseload")),
    rt: ServiceRuntime = RuntimeDep,
) -> Caseload:  # fmt: skip
    """The open tracks of one caseworker of the caller's centre (default: the caller), a page at a time, the
    next review due first (none due last), then by case id. Managers may look at anyone's, including
    ``unassigned``; a caseworker only at their own. The counts (overdue reviews, goals by area) are the whole
    caseload's, on every page."""
    who = caseworker_id or caller.user
    if caller.role is Role.CASEWORKER and who != caller.user:
        raise Forbidden("a caseworker sees only their own caseload")
    # The cursor is (next review due, "" for none, case id); the keyset compares "none" as the latest day.
    start = read_cursor(after, _day_or_none, text) if after is not None else (None, None)
    async with rt.pool.acquire() as conn:
        # Keyset on (next review due, case id), unique by the case id: a track opened between two page reads
        # appears once if it sorts after the cursor, and never pushes one read already onto the next page. A
        # track whose next review moves while the caseload is walked (a review recorded) moves in the order too,
        # like a deadline that moves: the walk shows it where it stood when its page was read. One row more
        # tells whether a next page exists without a count query.
        tracks = await conn.fetch(
            """SELECT s.case_id, s.phase, s.opened_on, s.next_review_due, s.review_overdue_since,
                      s.pending_transfer_to,
                      (SELECT count(*) FROM track_goals g WHERE g.case_id = s.case_id AND g.flagged
                          AND g.status IN ('planned', 'in-progress')) AS flagged_goals
               FROM track_summary s WHERE s.centre = $1 AND s.caseworker_id = $2 AND NOT s.closed
                 AND ($4::text IS NULL OR (COALESCE(s.next_review_due, 'infinity'::date), s.case_id)
                                          > (COALESCE($3::date, 'infinity'::date), $4::text))
               ORDER BY COALESCE(s.next_review_due, 'infinity'::date), s.case_id LIMIT $5""",
            caller.org, who, start[0], start[1], limit + 1,
        )  # fmt: skip
        overdue = await conn.fetchval(
            """SELECT count(*) FROM track_summary s WHERE s.centre = $1 AND s.caseworker_id = $2 AND NOT s.closed
                 AND s.review_overdue_since IS NOT NULL""",
            caller.org, who,
        )  # fmt: skip
        goals = await conn.fetch(
            """SELECT g.area, g.status, count(*) AS n FROM track_goals g JOIN track_summary s USING (case_id)
               WHERE s.centre = $1 AND s.caseworker_id = $2 AND NOT s.closed GROUP BY g.area, g.status""",
            caller.org,
            who,
        )
    by_area: dict[str, dict[str, int]] = {}
    for row in goals:
        by_area.setdefault(row["area"], {})[row["status"]] = row["n"]
    page = tracks[:limit]
    items = [
        CaseloadTrack(
            case_id=r["case_id"],
            phase=r["phase"],
            opened_on=r["opened_on"],
            next_review_due=r["next_review_due"],
            review_overdue=r["review_overdue_since"] is not None,
            pending_transfer_to=r["pending_transfer_to"],
            flagged_goals=r["flagged_goals"],
        )
        for r in page
    ]
    last = page[-1] if len(tracks) > limit else None
    following = None if last is None else cursor(_day_text(last["next_review_due"]), last["case_id"])
    return Caseload(centre=caller.org, caseworker_id=who, items=items, next=following, overdue_reviews=overdue,
                    goals_by_area=by_area)  # fmt: skip


def _day_text(day: date | None) -> str:
    return "" if day is None else day.isoformat()


def _day_or_none(value: Any) -> date | None:
    """A cursor's day: an ISO date, or "" for a track with no review due."""
    return None if text(value) == "" else date.fromisoformat(value)


@router.get("/transfers/incoming", response_model=IncomingTransfers)
async def read_incoming_transfers(
    after: Annotated[str | None, Query(max_length=200, pattern=CURSOR_PATTERN,
                                       description="`next` of the previous page; absent for the first page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    caller: Caller = Depends(may("read_incoming_transfers")),
    rt: ServiceRuntime = RuntimeDep,
) -> IncomingTransfers:  # fmt: skip
    """Transfer requests addressed to the caller's centre, waiting for its answer; a page at a time, by case id."""
    start = read_cursor(after, text)[0] if after is not None else None
    async with rt.pool.acquire() as conn:
        # Keyset on the unique case_id: a request arriving between two page reads appears once if it sorts
        # after the cursor, and never pushes one read already onto the next page. One row more tells whether
        # a next page exists without a count query.
        rows = await conn.fetch(
            """SELECT case_id, centre FROM track_summary WHERE pending_transfer_to = $1
                 AND ($2::text IS NULL OR case_id > $2) ORDER BY case_id LIMIT $3""",
            caller.org, start, limit + 1,
        )  # fmt: skip
    page = rows[:limit]
    following = cursor(page[-1]["case_id"]) if len(rows) > limit else None
    return IncomingTransfers(items=[IncomingTransfer(case_id=r["case_id"], from_centre=r["centre"]) for r in page],
                             next=following)  # fmt: skip


# --- audited reads of sealed words --------------------------------------------------------------------


async def _read_sealed(
    rt: ServiceRuntime,
    caller: Caller,
    purpose: str,
    *,
    case_id: str,
    action: str,
    ref: str,
    what: str,
    fields: Callable[[RecordedEvent], dict[str, tuple[Sealed | None, str]]],
) -> SealedText:
    """Open the sealed fields that ``fields`` picks from the events the caller may read (shown name ->
    (sealed value, the field it was sealed as)), and audit the read in the same transaction: a read that is
    served is a read that is recorded."""
    async with rt.store.transaction() as conn:
        track, events = await _load(rt, case_id, conn)
        check_scope(track, caller, action)
        picked = [(r, fields(r)) for r in events if track.may_read(caller.org, r.stream_version)]
        picked = [(r, found) for r, found in picked if found]
        if not picked:
            raise NotFound(f"no {ref} on track {case_id}")
        shown = [name for _, found in picked for name in found]
        items = [(sealed, field, r.event_id) for r, found in picked for sealed, field in found.values()]
        opened = await rt.vault.open_many(conn, items)
        assert track.person_id is not None
        await record_read(conn, org=caller.org, role=caller.role, user=caller.user, person_id=track.person_id,
                          what=what, purpose=purpose, at=rt.clock.now())  # fmt: skip
    texts: dict[str, str | None] = {}
    erased = False
    for name, (sealed, _, _), clear in zip(shown, items, opened, strict=True):
        if sealed is not None and clear is None:
            erased = True
        texts[name] = ERASED if sealed is not None and clear is None else clear
    return SealedText(case_id=case_id, ref=ref, texts=texts, erased=erased)


@router.get("/tracks/{case_id}/sessions/{session_id}/notes", response_model=SealedText)
async def read_session_notes(
    case_id: CaseId,
    session_id: str,
    caller: Caller = Depends(may("read_session_notes")),
    purpose: str = Depends(read_purpose),
    rt: ServiceRuntime = RuntimeDep,
) -> SealedText:
    """A session's notes. Requires the ``Harbour-Purpose`` header; the read is audited."""

    def notes(r: RecordedEvent) -> dict[str, tuple[Sealed | None, str]]:
        if r.event_type == "SessionRecorded" and r.payload["session_id"] == session_id:
            return {"notes": (getattr(r.event, "notes", None), "notes")}
        return {}

    return await _read_sealed(rt, caller, purpose, case_id=case_id, action="read_session_notes", ref=session_id,
                              what="track.session-notes", fields=notes)  # fmt: skip


@router.get("/tracks/{case_id}/goals/{goal_id}/words", response_model=SealedText)
async def read_goal_words(
    case_id: CaseId,
    goal_id: str,
    caller: Caller = Depends(may("read_goal_words")),
    purpose: str = Depends(read_purpose),
    rt: ServiceRuntime = RuntimeDep,
) -> SealedText:
    """The person's own words about a goal (and why it was dropped). ``Harbour-Purpose`` required; audited."""

    def words(r: RecordedEvent) -> dict[str, tuple[Sealed | None, str]]:
        if r.payload.get("goal_id") != goal_id:
            return {}
        if r.event_type == "GoalSet":
            return {"own_words": (getattr(r.event, "own_words", None), "own_words")}
        if r.event_type == "GoalDropped":
            return {"drop_reason": (getattr(r.event, "reason", None), "reason")}
        return {}

    return await _read_sealed(rt, caller, purpose, case_id=case_id, action="read_goal_words", ref=goal_id,
                              what="track.goal-words", fields=words)  # fmt: skip
