"""Lead endpoints: a centre's leads (tips from the public, for the recognised centre of the region where it was
seen), taking one up as a referral of the centre's own, or closing it with a reason. Who may call each one is
``services.intake.access.ACCESS``; another centre's lead is 404 exactly like one that does not exist."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import uuid4

from fastapi import APIRouter, Depends, Query, Response

from harbour.auth import Caller
from harbour.clock import today
from harbour.commands import Answer, check_version, run_command
from harbour.errors import NotFound
from harbour.service import RuntimeDep, ServiceRuntime
from schemas.intake import Centre
from services.intake.access import may, require_relation
from services.intake.api.models import LeadClosureRequest, LeadPage, LeadTakeUpRequest, LeadView, lead_view
from services.intake.domain import Lead, Referral
from services.intake.read_models import lead_page, lead_row

router = APIRouter(prefix="/leads", tags=["leads"])


def missing_lead(lead_id: str) -> str:
    return f"no lead {lead_id}"


def lead_queue(lead_id: str) -> str:
    """What commands on one lead queue on: its own stream."""
    return f"{Lead.stream_type}-{lead_id}"


async def _load(rt: ServiceRuntime, conn: Any, caller: Caller, lead_id: str, action: str) -> Lead:
    lead = await rt.repository.load_or_new(Lead, lead_id, conn=conn)
    centre = lead.centre.value if lead.centre is not None else None
    require_relation(action, caller, centre=centre, missing=missing_lead(lead_id))
    return lead


@router.get("", response_model=LeadPage, summary="The calling centre's leads, oldest first")
async def list_leads(
    status: Annotated[Literal["open", "taken-up", "closed", "all"],
                      Query(description="the leads in this state (open ones unless asked), or all of them")] = "open",
    after: Annotated[int, Query(ge=0, description="next_after of the previous page")] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    caller: Caller = Depends(may("lead.list")),
    rt: ServiceRuntime = RuntimeDep,
) -> LeadPage:  # fmt: skip
    async with rt.pool.acquire() as conn:
        rows = await lead_page(conn, caller.org, None if status == "all" else status, after, limit + 1)
    # One row more than asked tells whether a next page exists without a count query.
    page = rows[:limit]
    return LeadPage(items=[lead_view(r) for r in page], next_after=page[-1]["position"] if len(rows) > limit else None)


@router.get("/{lead_id}", response_model=LeadView, summary="One of the calling centre's leads")
async def read_lead(lead_id: str, caller: Caller = Depends(may("lead.read")), rt: ServiceRuntime = RuntimeDep
                    ) -> LeadView:  # fmt: skip
    async with rt.pool.acquire() as conn:
        row = await lead_row(conn, lead_id)
    if row is None:
        raise NotFound(missing_lead(lead_id))
    require_relation("lead.read", caller, centre=row["centre"], missing=missing_lead(lead_id))
    return lead_view(row)


@router.post("/{lead_id}/take-up", status_code=201, response_model=LeadView,
             summary="Take the lead up as a referral of the centre's own")  # fmt: skip
async def take_up_lead(
    lead_id: str, body: LeadTakeUpRequest, caller: Caller = Depends(may("lead.take-up")),
    rt: ServiceRuntime = RuntimeDep,
) -> Response:  # fmt: skip
    """The centre refers the situation to itself (the referral's referrer is the centre, as for a person who walks
    in): region, kinds and signals come from the tip, the centre adds what it knows. The referral then follows
    the ordinary procedure (screening, decision, interview, admission). Lead and referral commit together."""

    async def work(conn: Any) -> Answer:
        lead = await _load(rt, conn, caller, lead_id, "lead.take-up")
        check_version(lead, body.expected_version)
        assert lead.centre is not None and lead.region is not None  # _load found the caller's lead
        on = today(rt.clock)
        referral = Referral(str(uuid4()))  # a new one per attempt: a rolled-back attempt leaves nothing behind
        lead.take_up(by_centre=Centre(caller.org), referral_id=referral.id, on=on)
        referral.submit(referring_organisation_id=caller.org, region=lead.region, target_centre=lead.centre, on=on,
                        exploitation_types=lead.exploitation_types,
                        signal_ids=(*lead.signal_ids, *body.added_signal_ids), urgency=body.urgency)  # fmt: skip
        context = rt.command_context(caller)
        await rt.repository.save(lead, context, conn=conn)
        await rt.repository.save(referral, context, conn=conn)
        return Answer(lead_view(await lead_row(conn, lead_id)), location=f"/referrals/{referral.id}")

    return await run_command(rt.store.transaction, work, org=caller.org, body=body, queue_on=lead_queue(lead_id),
                             expected_version=body.expected_version)  # fmt: skip


@router.post("/{lead_id}/closure", response_model=LeadView, summary="Close the lead without a referral")
async def close_lead(
    lead_id: str, body: LeadClosureRequest, caller: Caller = Depends(may("lead.close")),
    rt: ServiceRuntime = RuntimeDep,
) -> Response:  # fmt: skip
    async def work(conn: Any) -> LeadView:
        lead = await _load(rt, conn, caller, lead_id, "lead.close")
        check_version(lead, body.expected_version)
        lead.close(by_centre=Centre(caller.org), reason=body.reason, on=today(rt.clock))
        await rt.repository.save(lead, rt.command_context(caller), conn=conn)
        return lead_view(await lead_row(conn, lead_id))

    return await run_command(rt.store.transaction, work, org=caller.org, body=body, queue_on=lead_queue(lead_id),
                             expected_version=body.expected_version)  # fmt: skip
