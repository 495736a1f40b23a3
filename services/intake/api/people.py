"""Endpoints on a centre's cases and persons: the case list, the audited person read, erasure, and the read audit.

A person's values are opened here, at read time, in the transaction that records the read: a response that
reveals personal data is always a recorded read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from harbour.audit import MAX_PAGE, ReadsPage, page_of_reads, read_purpose, record_read
from harbour.auth import Caller
from harbour.commands import run_command
from harbour.custody import Relation
from harbour.errors import NotFound
from harbour.http.pages import CURSOR_PATTERN
from harbour.pii import ERASED, Sealed
from harbour.service import RuntimeDep, ServiceRuntime
from schemas.intake import Centre
from services.intake.access import may, require_relation
from services.intake.api.models import (
    CasePage,
    CaseView,
    ErasureRequest,
    ErasureView,
    PersonView,
    case_view,
    decode_value,
)
from services.intake.api.periods import case_as_held_until
from services.intake.commands import erase_person, missing_person, person_custody, person_queue
from services.intake.read_models import case_custody, case_page, case_row, person_fields, person_row

router = APIRouter(tags=["cases and persons"])


@router.get("/cases", response_model=CasePage, summary="The calling centre's cases, oldest first")
async def list_cases(
    after: Annotated[int, Query(ge=0, description="next_after of the previous page")] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    caller: Caller = Depends(may("case.list")),
    rt: ServiceRuntime = RuntimeDep,
) -> CasePage:
    async with rt.pool.acquire() as conn:
        rows = await case_page(conn, caller.org, after, limit + 1)
    # One row more than asked tells whether a next page exists without a count query. Every case listed is held
    # by the caller (case_page), so its centre is the caller's.
    page = rows[:limit]
    items = [case_view(r).model_copy(update={"centre": Centre(caller.org)}) for r in page]
    return CasePage(items=items, next_after=page[-1]["position"] if len(rows) > limit else None)


@router.get("/cases/{case_id}", response_model=CaseView, summary="One of the calling centre's cases")
async def read_case(case_id: str, caller: Caller = Depends(may("case.read")), rt: ServiceRuntime = RuntimeDep
                    ) -> CaseView:  # fmt: skip
    """The holder reads the case as it is; a former holder as it stood at the end of its own period."""
    async with rt.pool.acquire() as conn:
        row = await case_row(conn, case_id)
        missing = f"no case {case_id}"
        if row is None:
            raise NotFound(missing)
        held = await case_custody(conn, row)
        relation = require_relation("case.read", caller, centre=row["centre"], missing=missing, custody=held)
        if relation is Relation.FORMER:
            return await case_as_held_until(rt, conn, row, held, caller.org)
    return case_view(row, holder=held)


async def _own_person(rt: ServiceRuntime, conn: object, caller: Caller, action: str, person_id: str) -> object:
    row = await person_row(conn, person_id)
    if row is None:
        raise NotFound(missing_person(person_id))
    # The centre holding the person's case (after a transfer: the receiving one); before admission, the centre
    # the referral is addressed to. A former holder no longer reads the identity (403): it guides them no more.
    require_relation(action, caller, centre=row["centre"], missing=missing_person(person_id),
                     custody=await person_custody(conn, row))  # fmt: skip
    return row


@router.get("/persons/{person_id}", response_model=PersonView,
            summary="Read a person's identity (audited; states its purpose)")  # fmt: skip
async def read_person(
    person_id: str,
    purpose: str = Depends(read_purpose),
    caller: Caller = Depends(may("person.read")),
    rt: ServiceRuntime = RuntimeDep,
) -> PersonView:
    async with rt.store.transaction() as conn:
        person = await _own_person(rt, conn, caller, "person.read", person_id)
        rows = await person_fields(conn, person_id)
        opened = await rt.vault.open_many(
            conn, [(Sealed.model_validate_json(r["sealed"]), r["field"], r["event_id"]) for r in rows]
        )
        await record_read(conn, org=caller.org, role=str(caller.role), user=caller.user, person_id=person_id,
                          what=",".join(r["field"] for r in rows) or "identity", purpose=purpose,
                          at=rt.clock.now())  # fmt: skip
    values = {r["field"]: (ERASED if text is None else decode_value(r["field"], text)) for r, text in zip(
        rows, opened, strict=True)}  # fmt: skip
    circumstances = values.pop("circumstances", None)
    return PersonView(
        person_id=person_id,
        referral_id=person["referral_id"],
        case_id=person["case_id"],
        erased=person["erased_on"] is not None,
        identity=values,
        circumstances=circumstances if isinstance(circumstances, str) else None,
    )


@router.post("/persons/{person_id}/erasure", response_model=ErasureView,
             summary="Erase the person's identifying data (destroys their key; the case's facts remain)")  # fmt: skip
async def erase(
    person_id: str, body: ErasureRequest, caller: Caller = Depends(may("person.erase")),
    rt: ServiceRuntime = RuntimeDep,
) -> ErasureView:  # fmt: skip
    async def work(conn: object) -> ErasureView:
        erased = await erase_person(
            store=rt.store, repository=rt.repository, vault=rt.vault, clock=rt.clock,
            context=rt.command_context(caller), person_id=person_id, reason=body.reason, caller=caller,
            conn=conn,
        )  # fmt: skip
        # The pseudonymous id, the day and a closed-list reason: nothing of the person in the stored answer.
        return ErasureView(person_id=erased.person_id, erased_on=erased.erased_on, reason=erased.reason)

    return await run_command(rt.store.transaction, work, org=caller.org, body=body,  # type: ignore[return-value]
                             queue_on=person_queue(person_id))  # fmt: skip


@router.get("/persons/{person_id}/reads", response_model=ReadsPage,
            summary="Who read this person's data, when and why (for the centre's manager), oldest first")  # fmt: skip
async def list_reads(
    person_id: str,
    after: Annotated[str | None, Query(max_length=100, pattern=CURSOR_PATTERN,
                                       description="`next` of the previous page; absent for the first page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    caller: Caller = Depends(may("person.reads")),
    rt: ServiceRuntime = RuntimeDep,
) -> ReadsPage:  # fmt: skip
    async with rt.pool.acquire() as conn:
        await _own_person(rt, conn, caller, "person.reads", person_id)
        return await page_of_reads(conn, person_id, after=after, limit=limit)
