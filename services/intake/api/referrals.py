"""Referral endpoints: submission (idempotent), the referrer's and the centre's reads, and the centre's commands
from screening to admission. Who may call each one is ``services.intake.access.ACCESS``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import uuid4

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from harbour import custody, plausibility
from harbour.auth import Caller
from harbour.clock import today
from harbour.commands import Answer, check_version, lock_stream, run_command
from harbour.custody import Relation
from harbour.errors import NotFound, RuleViolation
from harbour.service import RuntimeDep, ServiceRuntime
from schemas.intake import Centre, ConsentScope, RedirectTarget
from services.intake.access import may, require_relation
from services.intake.api import idempotency
from services.intake.api.models import (
    AdmissionRequest,
    CaseView,
    ConsentRequest,
    DecisionRequest,
    IdentityRequest,
    InterviewRequest,
    MinorRequest,
    PersonDetails,
    ReferralRequest,
    ReferralStatusView,
    ReferralView,
    ScreeningRequest,
    case_view,
    referral_view,
    status_view,
)
from services.intake.commands import file_queue, load_centre_referral, missing_referral
from services.intake.dates import RULES, history_of
from services.intake.domain import Referral
from services.intake.read_models import case_custody, case_row, referral_row

router = APIRouter(prefix="/referrals", tags=["referrals"])


def _check_birth_date(details: PersonDetails | None, on: date, command: str, field: str) -> None:
    if details is not None:
        plausibility.check(RULES, command, {field: details.date_of_birth}, {}, today=on)


@router.post("", status_code=201, response_model=ReferralStatusView, summary="Refer a possible victim to a centre")
async def submit_referral(
    body: ReferralRequest,
    caller: Caller = Depends(may("referral.submit")),
    rt: ServiceRuntime = RuntimeDep,
) -> Response:
    on = today(rt.clock)
    _check_birth_date(body.person, on, "referral.submit", "person.date_of_birth")

    async def work(conn: Any) -> Answer:
        referral = Referral(str(uuid4()))  # a new one per attempt: a rolled-back attempt leaves nothing behind
        await _submit(rt, conn, caller, referral, body, on)
        return Answer(status_view(await referral_row(conn, referral.id)), location=f"/referrals/{referral.id}")

    # The referral's own fingerprint (non-personal facts only), the one its keys always had. A new referral: no
    # other command can contend for it yet.
    return await run_command(rt.store.transaction, work, org=caller.org, print_=idempotency.fingerprint(body),
                             queue_on=None)  # fmt: skip


async def _submit(rt: ServiceRuntime, conn: object, caller: Caller, referral: Referral, body: ReferralRequest,
                  on: date) -> None:  # fmt: skip
    identity = body.person.clear_values() if body.person else {}
    # The person gets a pseudonymous id (and a key) as soon as anything about them is written down.
    person_id = str(uuid4()) if body.circumstances or identity else None
    submitted_id = uuid4()
    circumstances = None
    if body.circumstances is not None:
        circumstances = await rt.vault.seal(conn, person_id, "circumstances", body.circumstances, aad=submitted_id)
    referral.submit(
        referring_organisation_id=caller.org, region=body.region, target_centre=body.target_centre, on=on,
        exploitation_types=body.exploitation_types, signal_ids=body.signal_ids, urgency=body.urgency,
        referrer_file_number=body.referrer_file_number, circumstances=circumstances, event_id=submitted_id,
    )  # fmt: skip
    if body.person is not None and identity:
        captured_id = uuid4()
        sealed = await rt.vault.seal_fields(conn, person_id, identity, aad=captured_id)
        referral.capture_identity(person_id=person_id, on=on, event_id=captured_id,  # type: ignore[arg-type]
                                  clear=body.person.profile_input(), **sealed)  # fmt: skip
    await rt.repository.save(referral, rt.command_context(caller), conn=conn)


@router.get("/{referral_id}", response_model=ReferralView | ReferralStatusView, summary="Read a referral")
async def read_referral(
    referral_id: str, caller: Caller = Depends(may("referral.read")), rt: ServiceRuntime = RuntimeDep
) -> ReferralView | ReferralStatusView:
    """The addressed centre gets the whole referral; the referring organisation its status and decision."""
    async with rt.pool.acquire() as conn:
        row = await referral_row(conn, referral_id)
        if row is None:
            raise NotFound(missing_referral(referral_id))
        case = await case_row(conn, row["case_id"]) if row["case_id"] is not None else None
        held = await case_custody(conn, case) if case is not None else None
    relation = require_relation("referral.read", caller, centre=row["target_centre"], referrer=row["referring_org"],
                                missing=missing_referral(referral_id), custody=held)  # fmt: skip
    # The centre holding the referral (after a transfer: the receiving one) works from all of it.
    return referral_view(row) if relation is Relation.OWNER else status_view(row)


async def _decided(rt: ServiceRuntime, conn: Any, caller: Caller, referral_id: str, expected: int | None,
                   command: Callable[[Referral, Centre, date], None], action: str) -> Referral:  # fmt: skip
    """In ``conn``'s transaction (queued on the referral, :func:`file_queue`): load the caller's referral, run one
    domain command, save (409 if stale)."""
    referral = await load_centre_referral(rt.repository, referral_id, caller, conn=conn, action=action)
    check_version(referral, expected)
    command(referral, Centre(caller.org), today(rt.clock))
    await rt.repository.save(referral, rt.command_context(caller), conn=conn)
    return referral


async def _act(rt: ServiceRuntime, caller: Caller, referral_id: str, body: BaseModel | None, expected: int | None,
               command: Callable[[Referral, Centre, date], None], action: str) -> Response:  # fmt: skip
    """One domain command in one transaction, answered with the referral as that transaction left it."""

    async def work(conn: Any) -> ReferralView:
        await _decided(rt, conn, caller, referral_id, expected, command, action)
        return referral_view(await referral_row(conn, referral_id))

    return await run_command(rt.store.transaction, work, org=caller.org, body=body,
                             queue_on=file_queue(referral_id), expected_version=expected)  # fmt: skip


@router.post("/{referral_id}/screening", response_model=ReferralView, summary="Screen the referral's signals")
async def screen_referral(
    referral_id: str, body: ScreeningRequest, caller: Caller = Depends(may("referral.screen")),
    rt: ServiceRuntime = RuntimeDep,
) -> ReferralView:  # fmt: skip
    """Counts signals per category and recommends an intake at two or more (advice; never a finding of
    victimhood, which is the magistrate's)."""
    added = body.added_signal_ids
    return await _act(rt, caller, referral_id, body, body.expected_version,
                      lambda r, c, on: r.screen(by_centre=c, on=on, added_signal_ids=added),
                      "referral.screen")  # fmt: skip


@router.post("/{referral_id}/decision", response_model=ReferralView, summary="Accept, decline or redirect")
async def decide_referral(
    referral_id: str, body: DecisionRequest, caller: Caller = Depends(may("referral.decide")),
    rt: ServiceRuntime = RuntimeDep,
) -> ReferralView:  # fmt: skip
    def decide(referral: Referral, centre: Centre, on: date) -> None:
        if body.decision == "accept":
            referral.accept(by_centre=centre, on=on)
        elif body.decision == "decline":
            if body.decline_reason is None:
                raise RuleViolation("a decline names its reason", field="decline_reason")
            referral.decline(by_centre=centre, reason=body.decline_reason, on=on)
        else:
            if body.redirect_to is None:
                raise RuleViolation("a redirect names where to", field="redirect_to")
            if body.redirect_reason is None:
                raise RuleViolation("a redirect names its reason", field="redirect_reason")
            referral.redirect(by_centre=centre, to_centre=RedirectTarget(body.redirect_to),
                              reason=body.redirect_reason, on=on)  # fmt: skip

    return await _act(rt, caller, referral_id, body, body.expected_version, decide, "referral.decide")


@router.post("/{referral_id}/interviews", response_model=ReferralView, summary="Record an intake interview")
async def hold_interview(
    referral_id: str, body: InterviewRequest, caller: Caller = Depends(may("referral.interview")),
    rt: ServiceRuntime = RuntimeDep,
) -> ReferralView:  # fmt: skip
    def hold(referral: Referral, centre: Centre, on: date) -> None:
        held_on = body.held_on or on
        plausibility.check(RULES, "referral.interview", {"held_on": held_on},
                           history_of(submitted_on=referral.submitted_on), today=on)  # fmt: skip
        referral.hold_intake_interview(by_centre=centre, on=held_on)

    return await _act(rt, caller, referral_id, body, body.expected_version, hold, "referral.interview")


@router.post("/{referral_id}/consents", response_model=ReferralView, summary="Record the person's consent")
async def give_consent(
    referral_id: str, body: ConsentRequest, caller: Caller = Depends(may("referral.consent")),
    rt: ServiceRuntime = RuntimeDep,
) -> ReferralView:  # fmt: skip
    return await _act(rt, caller, referral_id, body, body.expected_version,
                      lambda r, c, on: r.give_consent(by_centre=c, scope=body.scope, on=on),
                      "referral.consent")  # fmt: skip


@router.post("/{referral_id}/consents/{scope}/withdrawal", response_model=ReferralView,
             summary="Record that the person withdrew a consent")  # fmt: skip
async def withdraw_consent(
    referral_id: str, scope: ConsentScope, caller: Caller = Depends(may("referral.consent")),
    rt: ServiceRuntime = RuntimeDep,
) -> ReferralView:  # fmt: skip
    return await _act(rt, caller, referral_id, None, None,
                      lambda r, c, on: r.withdraw_consent(by_centre=c, scope=scope, on=on),
                      "referral.consent")  # fmt: skip


@router.post("/{referral_id}/minor", response_model=ReferralView,
             summary="Flag the person as a minor (and refer them to the Guardianship Service)")  # fmt: skip
async def flag_minor(
    referral_id: str, body: MinorRequest, caller: Caller = Depends(may("referral.minor")),
    rt: ServiceRuntime = RuntimeDep,
) -> ReferralView:  # fmt: skip
    return await _act(rt, caller, referral_id, body, body.expected_version,
                      lambda r, c, on: r.flag_minor(by_centre=c, reason=body.reason, kind=body.kind, on=on),
                      "referral.minor")  # fmt: skip


@router.post("/{referral_id}/identity", response_model=ReferralView,
             summary="Capture the person's identity (sealed under the person's key)")  # fmt: skip
async def capture_identity(
    referral_id: str, body: IdentityRequest, caller: Caller = Depends(may("referral.identity")),
    rt: ServiceRuntime = RuntimeDep,
) -> ReferralView:  # fmt: skip
    """The values are sealed with the person's own key and the event's id; they are never stored in clear,
    and the answer does not echo them."""
    on = today(rt.clock)
    _check_birth_date(body, on, "referral.identity", "date_of_birth")
    values = body.clear_values()
    if not values:
        raise RuleViolation("at least one identity field is needed", field="identity")

    async def work(conn: Any) -> ReferralView:
        # Locked before the person's key may be written (see lock_stream), then read under the lock.
        await lock_stream(conn, f"{Referral.stream_type}-{referral_id}")
        referral = await load_centre_referral(rt.repository, referral_id, caller, conn=conn,
                                              action="referral.identity")  # fmt: skip
        check_version(referral, body.expected_version)
        person_id = referral.person_id or str(uuid4())
        event_id = uuid4()
        sealed = await rt.vault.seal_fields(conn, person_id, values, aad=event_id)
        referral.capture_identity(person_id=person_id, on=on, by_centre=Centre(caller.org), event_id=event_id,
                                  clear=body.profile_input(), **sealed)  # type: ignore[arg-type]  # fmt: skip
        await rt.repository.save(referral, rt.command_context(caller), conn=conn)
        return referral_view(await referral_row(conn, referral_id))

    # Every identity field is personal: the fingerprint knows which were sent, never their values.
    personal = set(IdentityRequest.model_fields) - {"expected_version"}
    return await run_command(rt.store.transaction, work, org=caller.org, body=body, personal=personal,
                             queue_on=file_queue(referral_id), expected_version=body.expected_version)  # fmt: skip


@router.post("/{referral_id}/admission", status_code=201, response_model=CaseView,
             summary="Admit the person: opens the case (CaseOpened)")  # fmt: skip
async def admit(
    referral_id: str, body: AdmissionRequest, caller: Caller = Depends(may("referral.admit")),
    rt: ServiceRuntime = RuntimeDep,
) -> Response:  # fmt: skip
    async def work(conn: Any) -> Answer:
        referral = await _decided(rt, conn, caller, referral_id, body.expected_version,
                                  lambda r, c, on: r.admit(by_centre=c, eu_citizen=body.eu_citizen, on=on,
                                                           exploitation_types=body.exploitation_types),
                                  "referral.admit")  # fmt: skip
        assert referral.case_id is not None and referral.opened_on is not None  # admitted just now
        # The admitting centre's custody period, in the transaction that opens the case.
        await custody.admit(conn, referral.case_id, caller.org, referral.opened_on)
        # The case as this transaction opened it (the projection is inline), not a read after the commit.
        case = await case_row(conn, referral.case_id)
        return Answer(case_view(case), location=f"/cases/{case['case_id']}")

    return await run_command(rt.store.transaction, work, org=caller.org, body=body,
                             queue_on=file_queue(referral_id), expected_version=body.expected_version)  # fmt: skip
