"""HTTP commands of the residence procedure: the centre's requests, the Immigration Office's decisions, endings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from fastapi import APIRouter, Depends

from harbour.auth import Caller
from harbour.errors import RuleViolation
from harbour.service import RuntimeDep, ServiceRuntime
from services.legal.access import Action, CaseAccess, may
from services.legal.api.common import accepted, day_of, run_on
from services.legal.api.models import (
    Accepted,
    Command,
    Decision,
    DocumentRequest,
    Ending,
    OpenOnRequest,
    RenewalRequest,
    VoluntaryReturn,
)
from services.legal.commands import LegalWork
from services.legal.residence import ResidenceProcedure
from services.legal.rules import ProceedingsFacts

router = APIRouter(prefix="/cases/{case_id}/residence", tags=["residence procedure"])
PROBLEMS = {
    401: {"description": "No valid token"},
    403: {"description": "This kind of organisation or role may not do this"},
    404: {"description": "No such case, or not one the caller may see"},
    409: {"description": "expected_version is stale: re-read and retry"},
    422: {"description": "The request breaks a rule of the procedure (detail and field say which)"},
}
# A read changes nothing, so no version of it can be stale: no 409.
READ_PROBLEMS = {status: problem for status, problem in PROBLEMS.items() if status != 409}


async def _decide(
    rt: ServiceRuntime, caller: Caller, case_id: str, action: Action, body: Command,
    decide: Callable[[ResidenceProcedure, date, ProceedingsFacts | None], object], *, with_facts: bool = False,
) -> Accepted:  # fmt: skip
    """Load the procedure at the client's version, apply ``decide`` on the day of the fact, save: the shape of
    every residence command but the opening. ``with_facts``: the proceedings' facts the command relies on,
    read in the same transaction."""

    async def command(work: LegalWork, _: CaseAccess) -> Accepted:
        residence = await work.residence(case_id, expected_version=body.expected_version)
        facts = (await work.proceedings(case_id)).facts() if with_facts else None
        decide(residence, day_of(body.on, work.today), facts)
        recorded = await work.save_residence(residence)
        return accepted(case_id, "residence", residence.version, recorded)

    return await run_on(rt, caller, case_id, action, body, command)


@router.post("/open", response_model=Accepted, status_code=201, responses=PROBLEMS,
             summary="Open the procedure at an EU citizen's request (centre caseworker)")  # fmt: skip
async def open_on_request(
    case_id: str,
    body: OpenOnRequest,
    caller: Caller = Depends(may(Action.OPEN_ON_REQUEST)),
    rt: ServiceRuntime = RuntimeDep,
) -> Accepted:
    async def command(work: LegalWork, case: CaseAccess) -> Accepted:
        residence = await work.residence_or_new(case_id)
        residence.open(on=day_of(body.on, work.today), unaccompanied_minor=case.unaccompanied_minor,
                       eu_citizen=case.eu_citizen, on_request=True)  # fmt: skip
        recorded = await work.save_residence(residence)
        return accepted(case_id, "residence", residence.version, recorded)

    return await run_on(rt, caller, case_id, Action.OPEN_ON_REQUEST, body, command)


@router.post("/requests", response_model=Accepted, status_code=201, responses=PROBLEMS,
             summary="Request a first issue of a document (centre caseworker)")  # fmt: skip
async def request_document(
    case_id: str,
    body: DocumentRequest,
    caller: Caller = Depends(may(Action.REQUEST_DOCUMENT)),
    rt: ServiceRuntime = RuntimeDep,
) -> Accepted:
    def request(residence: ResidenceProcedure, on: date, facts: ProceedingsFacts | None) -> None:
        residence.request(body.document, on=on, facts=facts)

    return await _decide(rt, caller, case_id, Action.REQUEST_DOCUMENT, body, request, with_facts=True)


@router.post("/renewal-requests", response_model=Accepted, status_code=201, responses=PROBLEMS,
             summary="Request the renewal of the document in force (centre caseworker)")  # fmt: skip
async def request_renewal(
    case_id: str,
    body: RenewalRequest,
    caller: Caller = Depends(may(Action.REQUEST_RENEWAL)),
    rt: ServiceRuntime = RuntimeDep,
) -> Accepted:
    def renew(residence: ResidenceProcedure, on: date, facts: ProceedingsFacts | None) -> None:
        residence.request_renewal(on=on, facts=facts)

    return await _decide(rt, caller, case_id, Action.REQUEST_RENEWAL, body, renew, with_facts=True)


@router.post("/decisions", response_model=Accepted, status_code=201, responses=PROBLEMS,
             summary="Record the Immigration Office's decision on the pending request (Immigration Office officer)",
             description="Issued: validity follows from the rules and the decision day. Refused: why.")  # fmt: skip
async def decide(
    case_id: str,
    body: Decision,
    caller: Caller = Depends(may(Action.DECIDE)),
    rt: ServiceRuntime = RuntimeDep,
) -> Accepted:
    def record(residence: ResidenceProcedure, on: date, _: ProceedingsFacts | None) -> None:
        if body.outcome == "issued":
            if body.reason is not None:
                raise RuleViolation("an issued document has no refusal reason", field="reason")
            residence.issue(on=on)
        else:
            if body.reason is None:
                raise RuleViolation("a refusal needs its reason", field="reason")
            residence.refuse(reason=body.reason, on=on)

    return await _decide(rt, caller, case_id, Action.DECIDE, body, record)


@router.post("/voluntary-return", response_model=Accepted, status_code=201, responses=PROBLEMS,
             summary="The person prepares a return during the reflection period (centre caseworker)")  # fmt: skip
async def choose_voluntary_return(
    case_id: str,
    body: VoluntaryReturn,
    caller: Caller = Depends(may(Action.CHOOSE_RETURN)),
    rt: ServiceRuntime = RuntimeDep,
) -> Accepted:
    return await _decide(rt, caller, case_id, Action.CHOOSE_RETURN, body,
                         lambda residence, on, _: residence.choose_voluntary_return(on=on))  # fmt: skip


@router.post("/ending", response_model=Accepted, status_code=201, responses=PROBLEMS,
             summary="Record that the status ended and why (centre caseworker)")  # fmt: skip
async def end_status(
    case_id: str,
    body: Ending,
    caller: Caller = Depends(may(Action.END_STATUS)),
    rt: ServiceRuntime = RuntimeDep,
) -> Accepted:
    return await _decide(rt, caller, case_id, Action.END_STATUS, body,
                         lambda residence, on, _: residence.end(reason=body.reason, on=on))  # fmt: skip
