"""Commands and reads on an admitted case: its minority (a case fact at any time) and its intake history.

Minority: the centre holding the case records that the person is a minor of a kind, or not a minor after all;
so may the Guardianship Service on a case referred to it, as its age determination decides (access.py). Each
establishment also refers the minor to the Guardianship Service when it was not asked yet about this kind
(the domain decides). Who may call: ``access.ACCESS`` ("case.minority", "case.history").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from harbour import plausibility
from harbour.auth import Caller, OrgKind
from harbour.clock import today
from harbour.commands import check_version, queue, run_command
from harbour.errors import NotFound, RuleViolation
from harbour.http.pages import CURSOR_PATTERN, cursor, integer, page_of, read_cursor
from harbour.service import RuntimeDep, ServiceRuntime
from schemas.intake import Centre, MinorFlagReason
from services.intake.access import may, require_relation
from services.intake.api.models import CaseHistory, CaseView, DisprovalRequest, MinorityRequest, case_view
from services.intake.api.periods import case_events, history_entries
from services.intake.commands import file_queue
from services.intake.dates import RULES, history_of
from services.intake.domain import Referral
from services.intake.read_models import case_custody, case_row

router = APIRouter(prefix="/cases", tags=["cases and persons"])


def missing_case(case_id: str) -> str:
    return f"no case {case_id}"  # the same text as the case read's, for an unknown id and another's case


async def _on_case(rt: ServiceRuntime, caller: Caller, case_id: str, body: MinorityRequest | DisprovalRequest,
                   command: str, decide: Callable[[Referral, Centre | None], None]) -> Response:  # fmt: skip
    """Queue on the case's intake file, check the caller's relation, the version and the dates, run one domain
    command."""

    async def work(conn: Any) -> CaseView:
        row = await case_row(conn, case_id)
        if row is None:
            raise NotFound(missing_case(case_id))
        # Commands on one intake file queue behind each other, each deciding on the last; which file is known
        # only from the case (a case's referral never changes, so the read before the queue is safe).
        await queue(conn, file_queue(row["referral_id"]))
        referral = await rt.repository.load(Referral, row["referral_id"], conn=conn)
        held = await case_custody(conn, row)
        require_relation("case.minority", caller, centre=row["centre"], missing=missing_case(case_id),
                         custody=held, referred_to_guardianship=referral.referred_to_guardianship)  # fmt: skip
        by_centre: Centre | None = None
        if caller.kind is OrgKind.GUARDIANSHIP_SERVICE:
            # Its part is the age determination: a declared age or a document is the centre's to record.
            if body.basis is not MinorFlagReason.AGE_ASSESSMENT:
                raise RuleViolation("the Guardianship Service records the outcome of an age assessment",
                                    field="basis")  # fmt: skip
        else:
            by_centre = referral.holder = Centre(held.centre)
        check_version(referral, body.expected_version)
        on = today(rt.clock)
        plausibility.check(RULES, command, {"on": body.on or on},
                           history_of(opened_on=referral.opened_on,
                                      minority_established_on=referral.minority_established_on),
                           today=on)  # fmt: skip
        decide(referral, by_centre)
        await rt.repository.save(referral, rt.command_context(caller), conn=conn)
        return case_view(await case_row(conn, case_id), holder=held)

    # Queued inside ``work``, on the file the case's row names (queue_on cannot know it before that read).
    return await run_command(rt.store.transaction, work, org=caller.org, body=body, queue_on=None,
                             expected_version=body.expected_version)  # fmt: skip


@router.post("/{case_id}/minority", status_code=200, response_model=CaseView,
             summary="Record that the person is a minor (unaccompanied or accompanied), at any time")  # fmt: skip
async def establish_minority(
    case_id: str, body: MinorityRequest, caller: Caller = Depends(may("case.minority")),
    rt: ServiceRuntime = RuntimeDep,
) -> Response:  # fmt: skip
    def decide(referral: Referral, by_centre: Centre | None) -> None:
        referral.establish_minority(by_centre=by_centre, kind=body.kind, basis=body.basis,
                                    on=body.on or today(rt.clock))  # fmt: skip

    return await _on_case(rt, caller, case_id, body, "case.minority", decide)


@router.post("/{case_id}/minority/disproved", status_code=200, response_model=CaseView,
             summary="Record that the person is not a minor after all")  # fmt: skip
async def disprove_minority(
    case_id: str, body: DisprovalRequest, caller: Caller = Depends(may("case.minority")),
    rt: ServiceRuntime = RuntimeDep,
) -> Response:  # fmt: skip
    def decide(referral: Referral, by_centre: Centre | None) -> None:
        referral.disprove_minority(by_centre=by_centre, basis=body.basis, on=body.on or today(rt.clock))

    return await _on_case(rt, caller, case_id, body, "case.minority.disproved", decide)


@router.get("/{case_id}/history", response_model=CaseHistory,
            summary="The facts of the case's intake file, oldest first (a former holder: its period's)")  # fmt: skip
async def read_history(
    case_id: str,
    after: Annotated[str | None, Query(max_length=100, pattern=CURSOR_PATTERN,
                                       description="`next` of the previous page; absent for the first page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    caller: Caller = Depends(may("case.history")),
    rt: ServiceRuntime = RuntimeDep,
) -> CaseHistory:  # fmt: skip
    start = read_cursor(after, integer) if after is not None else None
    async with rt.pool.acquire() as conn:
        row = await case_row(conn, case_id)
        if row is None:
            raise NotFound(missing_case(case_id))
        held = await case_custody(conn, row)
        require_relation("case.history", caller, centre=row["centre"], missing=missing_case(case_id), custody=held)
        until = held.held_until(caller.org)
        events = await case_events(rt, conn, row, until)
    # Keyset on the stream version (unique in the referral's stream): a fact recorded between two page reads
    # comes after the cursor. The stream is read whole (a former holder's period is cut by time), then paged.
    page, last = page_of(events, lambda e: [e.stream_version], start, limit)
    return CaseHistory(case_id=case_id, held_until=until, items=history_entries(page),
                       next=None if last is None else cursor(*last))  # fmt: skip
