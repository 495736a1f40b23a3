"""HTTP commands of the criminal proceedings: recorded by the centre or by the competent office (see access.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends

from harbour.auth import Caller
from harbour.service import RuntimeDep, ServiceRuntime
from services.legal.access import Action, CaseAccess, may
from services.legal.api.common import accepted, day_of, run_on
from services.legal.api.models import (
    Accepted,
    Appeal,
    CivilParty,
    Command,
    Compensation,
    Conclusion,
    FileAssignment,
    Hearing,
    Opinion,
    OpinionRequest,
    Requisitions,
    Stage,
    Statement,
    Verdict,
)
from services.legal.api.residence import PROBLEMS
from services.legal.commands import LegalWork
from services.legal.proceedings import CriminalProceedings

router = APIRouter(prefix="/cases/{case_id}/proceedings", tags=["criminal proceedings"])
CENTRE_OR_OFFICE = "centre caseworker, or a magistrate of the office the file is assigned to"


async def _run(
    rt: ServiceRuntime,
    caller: Caller,
    case_id: str,
    action: Action,
    body: Command,
    command: Callable[[CriminalProceedings, date], object],
) -> Accepted:
    async def decide(work: LegalWork, _: CaseAccess) -> Accepted:
        proceedings = await work.proceedings(case_id, expected_version=body.expected_version)
        command(proceedings, day_of(body.on, work.today))
        recorded = await work.save_proceedings(proceedings)
        return accepted(case_id, "proceedings", proceedings.version, recorded)

    return await run_on(rt, caller, case_id, action, body, decide)


def _post(path: str, summary: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return router.post(path, response_model=Accepted, status_code=201, responses=PROBLEMS, summary=summary)


@_post("/statements", "Record a statement or complaint (centre caseworker)")
async def make_statement(case_id: str, body: Statement, caller: Caller = Depends(may(Action.RECORD_STATEMENT)),
                         rt: ServiceRuntime = RuntimeDep) -> Accepted:  # fmt: skip
    return await _run(rt, caller, case_id, Action.RECORD_STATEMENT, body, lambda p, on: p.make_statement(
        on=on, kind=body.kind, unit=body.unit, report_number=body.report_number))  # fmt: skip


@_post("/file", f"Assign the file to the competent office ({CENTRE_OR_OFFICE})")
async def assign_file(case_id: str, body: FileAssignment, caller: Caller = Depends(may(Action.ASSIGN_FILE)),
                      rt: ServiceRuntime = RuntimeDep) -> Accepted:  # fmt: skip
    return await _run(rt, caller, case_id, Action.ASSIGN_FILE, body, lambda p, on: p.assign_file(
        office=body.office, file_number=body.file_number, on=on))  # fmt: skip


@_post("/opinion-requests", "Ask the reference magistrate's opinion (centre caseworker, Immigration Office officer)")
async def request_opinion(case_id: str, body: OpinionRequest, caller: Caller = Depends(may(Action.REQUEST_OPINION)),
                          rt: ServiceRuntime = RuntimeDep) -> Accepted:  # fmt: skip
    return await _run(rt, caller, case_id, Action.REQUEST_OPINION, body,
                      lambda p, on: p.request_opinion(step=body.step, on=on))  # fmt: skip


@_post("/opinions", "Give the reference magistrate's opinion (magistrate of the competent office)")
async def give_opinion(case_id: str, body: Opinion, caller: Caller = Depends(may(Action.GIVE_OPINION)),
                       rt: ServiceRuntime = RuntimeDep) -> Accepted:  # fmt: skip
    return await _run(rt, caller, case_id, Action.GIVE_OPINION, body,
                      lambda p, on: p.give_opinion(step=body.step, outcome=body.outcome, on=on))  # fmt: skip


@_post("/stages", f"Record an investigation stage ({CENTRE_OR_OFFICE})")
async def reach_stage(case_id: str, body: Stage, caller: Caller = Depends(may(Action.RECORD_STAGE)),
                      rt: ServiceRuntime = RuntimeDep) -> Accepted:  # fmt: skip
    return await _run(rt, caller, case_id, Action.RECORD_STAGE, body,
                      lambda p, on: p.reach_stage(stage=body.stage, on=on))  # fmt: skip


@_post("/hearings", f"Schedule a hearing; its stay check is scheduled with it ({CENTRE_OR_OFFICE})")
async def schedule_hearing(case_id: str, body: Hearing, caller: Caller = Depends(may(Action.SCHEDULE_HEARING)),
                           rt: ServiceRuntime = RuntimeDep) -> Accepted:  # fmt: skip
    return await _run(rt, caller, case_id, Action.SCHEDULE_HEARING, body, lambda p, on: p.schedule_hearing(
        court=body.court, hearing_on=body.hearing_on, attendance_required=body.attendance_required, on=on))  # fmt: skip


@_post("/civil-party", "The person joins the proceedings as a civil party (centre caseworker)")
async def join_civil_party(case_id: str, body: CivilParty, caller: Caller = Depends(may(Action.JOIN_CIVIL_PARTY)),
                           rt: ServiceRuntime = RuntimeDep) -> Accepted:  # fmt: skip
    return await _run(rt, caller, case_id, Action.JOIN_CIVIL_PARTY, body, lambda p, on: p.join_as_civil_party(on=on))


@_post("/requisitions", f"Record the prosecutor's requisitions ({CENTRE_OR_OFFICE})")
async def file_requisitions(case_id: str, body: Requisitions, caller: Caller = Depends(may(Action.FILE_REQUISITIONS)),
                            rt: ServiceRuntime = RuntimeDep) -> Accepted:  # fmt: skip
    return await _run(rt, caller, case_id, Action.FILE_REQUISITIONS, body, lambda p, on: p.file_requisitions(
        asks_trafficking_conviction=body.asks_trafficking_conviction, on=on))  # fmt: skip


@_post("/verdicts", f"Record a verdict, per defendant ({CENTRE_OR_OFFICE})")
async def deliver_verdict(case_id: str, body: Verdict, caller: Caller = Depends(may(Action.RECORD_VERDICT)),
                          rt: ServiceRuntime = RuntimeDep) -> Accepted:  # fmt: skip
    return await _run(rt, caller, case_id, Action.RECORD_VERDICT, body, lambda p, on: p.deliver_verdict(
        court=body.court, instance=body.instance, defendants=body.defendants, on=on))  # fmt: skip


@_post("/appeals", f"Record an appeal ({CENTRE_OR_OFFICE})")
async def lodge_appeal(case_id: str, body: Appeal, caller: Caller = Depends(may(Action.LODGE_APPEAL)),
                       rt: ServiceRuntime = RuntimeDep) -> Accepted:  # fmt: skip
    return await _run(rt, caller, case_id, Action.LODGE_APPEAL, body, lambda p, on: p.lodge_appeal(by=body.by, on=on))


@_post("/compensation", "Record compensation awarded to the civil party (centre caseworker)")
async def award_compensation(case_id: str, body: Compensation, caller: Caller = Depends(may(Action.AWARD_COMPENSATION)),
                             rt: ServiceRuntime = RuntimeDep) -> Accepted:  # fmt: skip
    return await _run(rt, caller, case_id, Action.AWARD_COMPENSATION, body, lambda p, on: p.award_compensation(
        court=body.court, amount_cents=body.amount_cents, on=on))  # fmt: skip


@_post("/conclusion", f"Conclude the proceedings; a dismissal ends the victim status ({CENTRE_OR_OFFICE})")
async def conclude(case_id: str, body: Conclusion, caller: Caller = Depends(may(Action.CONCLUDE)),
                   rt: ServiceRuntime = RuntimeDep) -> Accepted:  # fmt: skip
    return await _run(rt, caller, case_id, Action.CONCLUDE, body,
                      lambda p, on: p.conclude(outcome=body.outcome, on=on))  # fmt: skip
