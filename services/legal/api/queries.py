"""HTTP queries over the read models: a case's residence status and proceedings, a centre's deadlines."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query

from harbour.auth import Caller
from harbour.clock import local_day
from harbour.errors import Forbidden
from harbour.events import DomainEvent
from harbour.http.pages import CURSOR_PATTERN, cursor, read_cursor, text
from harbour.service import RuntimeDep, ServiceRuntime
from schemas.legal import DocumentRefused, ResidenceDocument
from services.legal.access import Action, CaseAccess, authorize, may
from services.legal.api.models import (
    DeadlinePage,
    DeadlineView,
    DocumentView,
    EndingView,
    ProceedingsView,
    RequestView,
    ResidenceStatus,
)
from services.legal.api.residence import READ_PROBLEMS
from services.legal.custody import events_until
from services.legal.proceedings import CriminalProceedings
from services.legal.projections import empty_summary, fold_summary
from services.legal.residence import ResidenceProcedure
from services.legal.rules import DocumentValidity, stay_valid_on
from services.legal.timekeeping import legal_today

router = APIRouter(tags=["queries"])
DEADLINE_PAGE = 100
MAX_DEADLINE_PAGE = 500


@router.get("/cases/{case_id}/residence", response_model=ResidenceStatus, responses=READ_PROBLEMS,
            summary="The case's residence status: document in force, validity, pending request, next deadline",
            description="Centre staff of the centre holding the case (a former holder: the file as at its "
                        "hand-over); the Immigration Office; the competent office.")  # fmt: skip
async def residence_status(case_id: str, caller: Caller = Depends(may(Action.READ_RESIDENCE)),
                           rt: ServiceRuntime = RuntimeDep) -> ResidenceStatus:  # fmt: skip
    today = legal_today(rt.clock)
    async with rt.pool.acquire() as conn:
        case = await authorize(conn, caller, case_id, Action.READ_RESIDENCE)
        if case.held_until is not None:
            return await residence_as_of(conn, case, case.held_until)
        row = await conn.fetchrow("SELECT *, last_refusal::text AS refusal FROM legal_residence_status "
                                  "WHERE case_id = $1", case_id)  # fmt: skip
        deadline = await conn.fetchrow(
            "SELECT * FROM legal_deadlines WHERE case_id = $1 AND due_on >= $2 ORDER BY due_on, slot LIMIT 1",
            case_id, today,
        )  # fmt: skip
    current = pending = ended = None
    if row is not None and row["document"] is not None:
        current = DocumentView(document=row["document"], decided_on=row["decided_on"], starts_on=row["starts_on"],
                               ends_on=row["ends_on"], renewals=row["renewals"],
                               expired=row["expired_on"] is not None)  # fmt: skip
    if row is not None and row["request_document"] is not None:
        pending = RequestView(document=row["request_document"], renewal=row["request_renewal"],
                              requested_on=row["requested_on"], magistrate_opinion=row["request_opinion"],
                              magistrate_opinion_on=row["request_opinion_on"])  # fmt: skip
    if row is not None and row["ended_on"] is not None:
        ended = EndingView(ended_on=row["ended_on"], reason=row["ending_reason"])
    validity = None if current is None else DocumentValidity(current.document, current.decided_on,
                                                             current.starts_on, current.ends_on)  # fmt: skip
    return ResidenceStatus(
        case_id=case_id,
        procedure_open=row is not None,
        version=row["version"] if row else 0,
        unaccompanied_minor=case.unaccompanied_minor,
        eu_citizen=case.eu_citizen,
        opened_on=row["opened_on"] if row else None,
        current=current,
        pending_request=pending,
        last_refusal=json.loads(row["refusal"]) if row and row["refusal"] else None,
        stay_valid_today=stay_valid_on(validity, today, eu_citizen=case.eu_citizen),
        reminders_sent=row["reminders_sent"] if row else 0,
        hearing_warnings=row["hearing_warnings"] if row else 0,
        ended=ended,
        next_deadline=None if deadline is None else _deadline(deadline),
    )


async def residence_as_of(conn: Any, case: CaseAccess, until: datetime) -> ResidenceStatus:
    """The residence status as it stood at ``until`` (a former holder's hand-over), from the events recorded up
    to then: the read model holds only the latest state, which may carry facts of the receiving centre's period.

    The same fields the read model gives, from a replay of the aggregate as legal_residence_status does; the
    deadlines are the holder's to act on, so none is shown, and the stay is the stay on the hand-over day."""
    version, events = await events_until(conn, ResidenceProcedure(case.case_id).stream_id, until)
    residence = ResidenceProcedure(case.case_id)
    residence.replay(events)
    refusal = next((e for e in reversed(events) if isinstance(e, DocumentRefused)), None)
    current, request, ended = residence.current, residence.open_request, residence.ended
    return ResidenceStatus(
        case_id=case.case_id,
        procedure_open=version > 0,
        version=version,
        unaccompanied_minor=residence.unaccompanied_minor if version else case.unaccompanied_minor,
        eu_citizen=case.eu_citizen,
        opened_on=residence.opened_on,
        current=None if current is None else DocumentView(
            document=current.document, decided_on=current.decided_on, starts_on=current.starts_on,
            ends_on=current.ends_on, renewals=current.renewals, expired=residence.current_expired),
        pending_request=None if request is None else RequestView(
            document=request.document, renewal=request.renewal, requested_on=request.requested_on,
            magistrate_opinion=request.magistrate_opinion, magistrate_opinion_on=request.magistrate_opinion_on),
        last_refusal=None if refusal is None else refusal.model_dump(mode="json", exclude={"case_id"}),
        stay_valid_today=stay_valid_on(current, local_day(until), eu_citizen=case.eu_citizen),
        reminders_sent=residence.reminders_given,
        hearing_warnings=residence.hearing_warnings,
        ended=None if ended is None else EndingView(ended_on=ended.ended_on, reason=ended.reason),
        next_deadline=None,
        as_of=until,
    )  # fmt: skip


@router.get("/cases/{case_id}/proceedings", response_model=ProceedingsView, responses=READ_PROBLEMS,
            summary="The criminal proceedings of the case",
            description="Centre staff of the centre holding the case (a former holder: the proceedings as at "
                        "its hand-over); the office the file is assigned to.")  # fmt: skip
async def proceedings_summary(case_id: str, caller: Caller = Depends(may(Action.READ_PROCEEDINGS)),
                              rt: ServiceRuntime = RuntimeDep) -> ProceedingsView:  # fmt: skip
    async with rt.pool.acquire() as conn:
        case = await authorize(conn, caller, case_id, Action.READ_PROCEEDINGS)
        if case.held_until is not None:
            version, events = await events_until(conn, CriminalProceedings(case_id).stream_id, case.held_until)
            return ProceedingsView(case_id=case_id, version=version, summary=summary_of(events) if version else {},
                                   as_of=case.held_until)  # fmt: skip
        row = await conn.fetchrow("SELECT version, summary::text AS summary FROM legal_proceedings "
                                  "WHERE case_id = $1", case_id)  # fmt: skip
    if row is None:
        return ProceedingsView(case_id=case_id, version=0, summary={})
    return ProceedingsView(case_id=case_id, version=row["version"], summary=json.loads(row["summary"]))


def summary_of(events: list[DomainEvent]) -> dict[str, Any]:
    """The proceedings summary of ``events``, as the legal_proceedings read model folds them (same lists, same
    keys), for a view as at a moment the read model has moved past."""
    summary = empty_summary()
    for event in events:
        fold_summary(summary, event)
    return summary


@router.get("/centres/{centre}/deadlines", response_model=DeadlinePage, responses=READ_PROBLEMS,
            summary="A centre's upcoming deadlines: documents' last valid days and hearings, earliest first",
            description="That centre's own staff only; another centre's is 403. A page at a time: pass `next` "
                        "as `?after=` for the following page.")  # fmt: skip
async def centre_deadlines(
    centre: str,
    within_days: int = Query(90, ge=0, le=3660, description="How far ahead to look."),
    after: str | None = Query(None, max_length=400, pattern=CURSOR_PATTERN,
                              description="`next` of the previous page; absent for the first page"),
    limit: int = Query(DEADLINE_PAGE, ge=1, le=MAX_DEADLINE_PAGE),
    caller: Caller = Depends(may(Action.READ_DEADLINES)),
    rt: ServiceRuntime = RuntimeDep,
) -> DeadlinePage:  # fmt: skip
    if caller.org != centre:  # the scope, Scope.OWN_CENTRE: kind and role were the table's (may)
        raise Forbidden("a centre reads only its own deadlines")
    # Keyset on the unique (due_on, case_id, slot): a deadline recorded between two page reads appears once,
    # in its place, if it sorts after the cursor, and cannot push an item read already onto the next page.
    start = read_cursor(after, date.fromisoformat, text, text) if after is not None else None
    today = legal_today(rt.clock)
    async with rt.pool.acquire() as conn:
        rows = await conn.fetch(
            # The deadlines follow the case: the centre holding it now (case_custody, the registered centre for
            # a case followed before custody was kept) must act on them, its former holders no longer.
            """SELECT d.* FROM legal_deadlines d JOIN legal_cases c USING (case_id)
               LEFT JOIN LATERAL (SELECT k.centre FROM case_custody k WHERE k.case_id = c.case_id
                                  ORDER BY k.seq DESC LIMIT 1) holder ON true
               WHERE COALESCE(holder.centre, c.centre) = $1 AND d.due_on BETWEEN $2 AND $3
                 AND ($4::date IS NULL OR (d.due_on, d.case_id, d.slot) > ($4::date, $5::text, $6::text))
               ORDER BY d.due_on, d.case_id, d.slot LIMIT $7""",
            centre, today, today + timedelta(days=within_days), *(start or (None, None, None)), limit + 1,
        )  # fmt: skip
    # One row more than asked tells whether a next page exists without a count query.
    page = rows[:limit]
    last = page[-1] if len(rows) > limit else None
    following = None if last is None else cursor(last["due_on"].isoformat(), last["case_id"], last["slot"])
    return DeadlinePage(items=[_deadline(r) for r in page], next=following)


def _deadline(row: Any) -> DeadlineView:
    document = ResidenceDocument(row["document"]) if row["document"] else None
    return DeadlineView(case_id=row["case_id"], kind=row["kind"], due_on=row["due_on"], document=document,
                        court=row["court"])  # fmt: skip
