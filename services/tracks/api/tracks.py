"""HTTP commands on a track: caseworker, phase, plan, reviews, sessions, transfer, closure, reopening.

Every command loads the track, checks the caller against ``access.ACCESS``, checks the dates the caller typed
against ``services.tracks.dates.RULES`` (422 naming the field and the rule), runs the domain command and saves
in one transaction (with the review timers the new events imply): ``services.tracks.commands.run``. A date the
caller leaves out is today where the case is (``harbour.clock.today``: a session recorded at 23:30 in Brussels
is on the Brussels day).
Free text about the person is sealed under the person's key with the id of the event that will carry it as
associated data, before the domain sees it.
The queries are in ``services/tracks/api/queries.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, StringConstraints

from harbour.auth import Caller
from harbour.clock import today
from harbour.pii import Sealed
from harbour.service import RuntimeDep, ServiceRuntime
from services.tracks import commands, dates
from services.tracks.access import may
from services.tracks.api.models import (
    AcceptTransfer,
    AssignCaseworker,
    ChangePhase,
    CloseTrack,
    Command,
    Created,
    Dated,
    DeclineTransfer,
    DropGoal,
    RecordSession,
    ReopenTrack,
    RequestTransfer,
    SetGoal,
    TrackView,
    TransferDeclinedView,
    track_view,
)
from services.tracks.commands import Change
from services.tracks.domain import Track
from services.tracks.handlers import UNASSIGNED

router = APIRouter(prefix="/tracks", tags=["tracks"])

# The person's own words and the caseworker's notes about them: sealed in the events, and left out of the
# Idempotency-Key's fingerprint (only their presence counts), which outlives an erasure.
PERSONAL: dict[type[Command], frozenset[str]] = {
    SetGoal: frozenset({"own_words"}), DropGoal: frozenset({"reason"}), RecordSession: frozenset({"notes"}),
    ReopenTrack: frozenset({"reason"}),
}  # fmt: skip


async def _run(rt: ServiceRuntime, caller: Caller, case_id: str, action: str, body: Command | None,
               change: Change, answer: Callable[[Track], BaseModel] = track_view) -> Response:  # fmt: skip
    """The command's load–decide–save (``services.tracks.commands.run``), answered with the track by default."""
    return await commands.run(rt, caller, case_id, action, body, change, answer,
                              personal=PERSONAL.get(type(body), frozenset()))  # fmt: skip


async def _seal(rt: ServiceRuntime, conn: Any, track: Track, field: str, text: str, event_id: UUID) -> Sealed:
    assert track.person_id is not None
    # An erased person raises PersonErasedError (422): nothing personal is recorded about them again.
    return await rt.vault.seal(conn, track.person_id, field, text, aad=event_id)


CaseId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


def _on(rt: ServiceRuntime, body: Dated | None) -> date:
    return body.on if body is not None and body.on is not None else today(rt.clock)


def _goal_set_on(track: Track, goal_id: str) -> date | None:
    goal = track.goals.get(goal_id)
    return goal.set_on if goal is not None else None  # an unknown goal: the domain names it (goal_id)


def _check_goal_date(rt: ServiceRuntime, track: Track, command: str, goal_id: str, body: Dated | None) -> None:
    dates.check(command, {"on": body.on if body else None}, {"goal_set_on": _goal_set_on(track, goal_id)}, rt.clock)


@router.put("/{case_id}/caseworker", response_model=TrackView)
async def assign_caseworker(case_id: CaseId, body: AssignCaseworker,
                            caller: Caller = Depends(may("assign_caseworker")),
                            rt: ServiceRuntime = RuntimeDep) -> TrackView:  # fmt: skip
    async def change(track: Track, conn: Any) -> None:
        track.assign_caseworker(caseworker_id=body.caseworker_id, on=today(rt.clock))

    return await _run(rt, caller, case_id, "assign_caseworker", body, change)


@router.post("/{case_id}/phase", response_model=TrackView)
async def change_phase(case_id: CaseId, body: ChangePhase, caller: Caller = Depends(may("change_phase")),
                       rt: ServiceRuntime = RuntimeDep) -> TrackView:  # fmt: skip
    async def change(track: Track, conn: Any) -> None:
        track.change_phase(to=body.to, on=today(rt.clock))

    return await _run(rt, caller, case_id, "change_phase", body, change)


@router.post("/{case_id}/goals", response_model=Created, status_code=201)
async def set_goal(case_id: CaseId, body: SetGoal, caller: Caller = Depends(may("set_goal")),
                   rt: ServiceRuntime = RuntimeDep) -> Created:  # fmt: skip
    goal_id = body.goal_id or uuid4().hex

    async def change(track: Track, conn: Any) -> None:
        dates.check("set-goal", {"target_date": body.target_date}, {"track_opened_on": track.opened_on}, rt.clock)
        event_id = uuid4()
        words = await _seal(rt, conn, track, "own_words", body.own_words, event_id)
        track.set_goal(goal_id=goal_id, area=body.area, target_date=body.target_date, own_words=words,
                       on=today(rt.clock), event_id=event_id)  # fmt: skip

    return await _run(rt, caller, case_id, "set_goal", body, change,
                      lambda track: Created(id=goal_id, track=track_view(track)))  # fmt: skip


@router.post("/{case_id}/goals/{goal_id}/progress", response_model=TrackView)
async def progress_goal(case_id: CaseId, goal_id: str, body: Dated | None = None,
                        caller: Caller = Depends(may("progress_goal")),
                        rt: ServiceRuntime = RuntimeDep) -> TrackView:  # fmt: skip
    async def change(track: Track, conn: Any) -> None:
        _check_goal_date(rt, track, "progress-goal", goal_id, body)
        track.progress_goal(goal_id=goal_id, on=_on(rt, body))

    return await _run(rt, caller, case_id, "progress_goal", body, change)


@router.post("/{case_id}/goals/{goal_id}/achieve", response_model=TrackView)
async def achieve_goal(case_id: CaseId, goal_id: str, body: Dated | None = None,
                       caller: Caller = Depends(may("achieve_goal")),
                       rt: ServiceRuntime = RuntimeDep) -> TrackView:  # fmt: skip
    async def change(track: Track, conn: Any) -> None:
        _check_goal_date(rt, track, "achieve-goal", goal_id, body)
        track.achieve_goal(goal_id=goal_id, on=_on(rt, body))

    return await _run(rt, caller, case_id, "achieve_goal", body, change)


@router.post("/{case_id}/goals/{goal_id}/drop", response_model=TrackView)
async def drop_goal(case_id: CaseId, goal_id: str, body: DropGoal, caller: Caller = Depends(may("drop_goal")),
                    rt: ServiceRuntime = RuntimeDep) -> TrackView:  # fmt: skip
    async def change(track: Track, conn: Any) -> None:
        _check_goal_date(rt, track, "drop-goal", goal_id, body)
        event_id = uuid4()
        reason = await _seal(rt, conn, track, "reason", body.reason, event_id)
        track.drop_goal(goal_id=goal_id, reason=reason, on=_on(rt, body), event_id=event_id)

    return await _run(rt, caller, case_id, "drop_goal", body, change)


@router.post("/{case_id}/reviews", response_model=TrackView)
async def review_plan(case_id: CaseId, body: Dated | None = None, caller: Caller = Depends(may("review_plan")),
                      rt: ServiceRuntime = RuntimeDep) -> TrackView:  # fmt: skip
    async def change(track: Track, conn: Any) -> None:
        dates.check("review-plan", {"on": body.on if body else None},
                    {"track_opened_on": track.opened_on, "last_reviewed_on": track.last_reviewed_on},
                    rt.clock)  # fmt: skip
        track.review_plan(on=_on(rt, body), review_interval_months=rt.settings.plan_review_months)

    return await _run(rt, caller, case_id, "review_plan", body, change)


@router.post("/{case_id}/sessions", response_model=Created, status_code=201)
async def record_session(case_id: CaseId, body: RecordSession, caller: Caller = Depends(may("record_session")),
                         rt: ServiceRuntime = RuntimeDep) -> Created:  # fmt: skip
    session_id = body.session_id or uuid4().hex

    async def change(track: Track, conn: Any) -> None:
        dates.check("record-session", {"held_on": body.held_on}, {"track_opened_on": track.opened_on}, rt.clock)
        event_id = uuid4()
        notes = None if body.notes is None else await _seal(rt, conn, track, "notes", body.notes, event_id)
        track.record_session(session_id=session_id, held_on=body.held_on, area=body.area, kind=body.kind,
                             duration_minutes=body.duration_minutes, attended=body.attended,
                             today=today(rt.clock), notes=notes, event_id=event_id)  # fmt: skip

    return await _run(rt, caller, case_id, "record_session", body, change,
                      lambda track: Created(id=session_id, track=track_view(track)))  # fmt: skip


@router.post("/{case_id}/transfer", response_model=TrackView)
async def request_transfer(case_id: CaseId, body: RequestTransfer,
                           caller: Caller = Depends(may("request_transfer")),
                           rt: ServiceRuntime = RuntimeDep) -> TrackView:  # fmt: skip
    async def change(track: Track, conn: Any) -> None:
        track.request_transfer(by_centre=caller.org, to_centre=body.to_centre, reason=body.reason,
                               on=today(rt.clock))  # fmt: skip

    return await _run(rt, caller, case_id, "request_transfer", body, change)


@router.post("/{case_id}/transfer/accept", response_model=TrackView)
async def accept_transfer(case_id: CaseId, body: AcceptTransfer | None = None,
                          caller: Caller = Depends(may("accept_transfer")),
                          rt: ServiceRuntime = RuntimeDep) -> TrackView:  # fmt: skip
    caseworker = body.caseworker_id if body is not None else UNASSIGNED

    async def change(track: Track, conn: Any) -> None:
        track.accept_transfer(by_centre=caller.org, caseworker_id=caseworker, on=today(rt.clock))

    return await _run(rt, caller, case_id, "accept_transfer", body, change)


@router.post("/{case_id}/transfer/decline", response_model=TransferDeclinedView)
async def decline_transfer(case_id: CaseId, body: DeclineTransfer,
                           caller: Caller = Depends(may("decline_transfer")),
                           rt: ServiceRuntime = RuntimeDep) -> TransferDeclinedView:  # fmt: skip
    async def change(track: Track, conn: Any) -> None:
        track.decline_transfer(by_centre=caller.org, reason=body.reason, on=today(rt.clock))

    # The decliner never owned the track: it learns that its answer was recorded, not the track itself.
    return await _run(rt, caller, case_id, "decline_transfer", body, change,
                      lambda _: TransferDeclinedView(case_id=case_id, declined_by=caller.org,
                                                     reason=body.reason))  # fmt: skip


@router.post("/{case_id}/transfer/withdraw", response_model=TrackView)
async def withdraw_transfer(case_id: CaseId, body: Command | None = None,
                            caller: Caller = Depends(may("withdraw_transfer")),
                            rt: ServiceRuntime = RuntimeDep) -> TrackView:  # fmt: skip
    async def change(track: Track, conn: Any) -> None:
        track.withdraw_transfer(by_centre=caller.org, on=today(rt.clock))

    return await _run(rt, caller, case_id, "withdraw_transfer", body, change)


@router.post("/{case_id}/closure", response_model=TrackView)
async def close_track(case_id: CaseId, body: CloseTrack, caller: Caller = Depends(may("close_track")),
                      rt: ServiceRuntime = RuntimeDep) -> TrackView:  # fmt: skip
    async def change(track: Track, conn: Any) -> None:
        dates.check("close-track", {"on": body.on}, {"track_opened_on": track.opened_on}, rt.clock)
        track.close(on=_on(rt, body), reason=str(body.reason))

    return await _run(rt, caller, case_id, "close_track", body, change)


@router.post("/{case_id}/reopening", response_model=TrackView)
async def reopen_track(case_id: CaseId, body: ReopenTrack, caller: Caller = Depends(may("reopen_track")),
                       rt: ServiceRuntime = RuntimeDep) -> TrackView:  # fmt: skip
    async def change(track: Track, conn: Any) -> None:
        event_id = uuid4()
        reason = await _seal(rt, conn, track, "reason", body.reason, event_id)
        track.reopen(reason=reason, on=today(rt.clock), review_interval_months=rt.settings.plan_review_months,
                     event_id=event_id)  # fmt: skip

    return await _run(rt, caller, case_id, "reopen_track", body, change)
