"""Reactions: intake's CaseOpened (Kafka, through the inbox) and the legal timers (harbour.timers).

Timer handlers run in the timer runner's transaction: the events they save commit with the timer's
``fired_at``, so a reminder is recorded exactly once even if the service dies mid-way or restarts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date

import schemas.intake  # noqa: F401 - registers intake's event types so CaseOpened can be decoded
from harbour.errors import ConcurrencyError
from harbour.kafka.consumer import HandlerContext
from harbour.store import RecordedEvent
from harbour.timers import Timer
from milestones import CASE_AUDIENCES
from schemas.intake import CaseOpened, MinorityDisproved, MinorityEstablished
from schemas.legal import ReflectionPeriodExtended, ResidenceDocument
from services.legal.case import LegalCase
from services.legal.commands import LegalWork
from services.legal.residence import opens_on_case_opened
from services.legal.timekeeping import legal_today, sync_document_timers

CONFLICT_RETRIES = 3


def _work(ctx: HandlerContext) -> LegalWork:
    return LegalWork(ctx.runtime, ctx.conn, ctx.command, legal_today(ctx.clock))


async def _retrying(ctx: HandlerContext, step: Callable[[LegalWork], Awaitable[None]]) -> None:
    """Run a timer's step, re-reading the stream when a command on the same case committed first.

    Without this a timer that meets a caseworker's command (or another timer of the case) would wait out the
    runner's backoff; a savepoint per attempt undoes only the losing attempt, and under READ COMMITTED the
    next attempt reads the winner's events.
    """
    for attempt in range(1, CONFLICT_RETRIES + 1):
        try:
            async with ctx.conn.transaction():
                await step(_work(ctx))
            return
        except ConcurrencyError:
            if attempt == CONFLICT_RETRIES:
                raise


async def on_case_opened(ctx: HandlerContext, event: RecordedEvent) -> None:
    """Intake admitted a person: follow the case and open the residence procedure (not for EU citizens,
    whose documents are optional: theirs opens only at their request)."""
    opened = event.event
    assert isinstance(opened, CaseOpened)
    work = _work(ctx)
    case = await ctx.repository.load_or_new(LegalCase, opened.case_id, conn=ctx.conn)
    if case.exists:
        return  # the inbox dedupes a redelivery; this also covers a replay of intake's topic under a new consumer
    # Intake's "minor" is an unaccompanied minor admitted by a centre (a guardian is appointed): 3 months.
    case.register(centre=opened.centre.value, unaccompanied_minor=opened.minor, eu_citizen=opened.eu_citizen,
                  opened_on=opened.opened_on)  # fmt: skip
    await ctx.repository.save(case, ctx.command, conn=ctx.conn)
    if opens_on_case_opened(eu_citizen=opened.eu_citizen):
        residence = await work.residence_or_new(opened.case_id)
        residence.open(on=opened.opened_on, unaccompanied_minor=opened.minor)
        await work.save_residence(residence)


async def on_intake_fact(ctx: HandlerContext, event: RecordedEvent) -> None:
    """Intake's case facts, through one consumer so they apply in the order intake recorded them (a case's
    events share its partition): the case opens before its minority can change anything."""
    match event.event:
        case CaseOpened():
            await on_case_opened(ctx, event)
        case MinorityEstablished() | MinorityDisproved():
            await on_minority(ctx, event)


async def on_minority(ctx: HandlerContext, event: RecordedEvent) -> None:
    """A minority established or disproved at any time: the residence procedure applies it (docs/minors.md)."""
    fact = event.event
    assert isinstance(fact, MinorityEstablished | MinorityDisproved)
    if isinstance(fact, MinorityEstablished):
        minor, on = fact.kind, fact.established_on
    else:
        minor, on = None, fact.disproved_on
    # Who follows the case (the Guardianship Service for a minor) in this very transaction: the milestone of an
    # extension recorded below must find it, whatever the case-audiences consumer has read of intake yet.
    await CASE_AUDIENCES.handle(ctx.conn, event)
    work = _work(ctx)
    residence = await work.residence_or_new(fact.case_id)
    if residence.version == 0:
        # No procedure: an EU citizen's opens only at their request, or the case is not followed here.
        return
    if residence.note_minority(minor=minor, basis=fact.basis, on=on):
        extended = any(isinstance(e, ReflectionPeriodExtended) for e in residence.pending())
        await work.save_residence(residence)
        if extended:  # the Annex 15's reminders and expiry move to its new last day
            await sync_document_timers(ctx.conn, residence)


async def on_document_reminder(ctx: HandlerContext, timer: Timer) -> None:
    p = timer.payload

    async def step(work: LegalWork) -> None:
        residence = await work.residence(timer.case_id)
        # The domain ignores a stale reminder (the document was replaced meanwhile) or a repeated one.
        if residence.remind_expiry(document=ResidenceDocument(p["document"]), ends_on=date.fromisoformat(p["ends_on"]),
                                   days_before=int(p["days_before"]), on=work.today):  # fmt: skip
            await work.save_residence(residence)

    await _retrying(ctx, step)


async def on_document_expiry(ctx: HandlerContext, timer: Timer) -> None:
    p = timer.payload

    async def step(work: LegalWork) -> None:
        residence = await work.residence(timer.case_id)
        if residence.expire(document=ResidenceDocument(p["document"]), ends_on=date.fromisoformat(p["ends_on"]),
                            on=work.today):  # fmt: skip
            await work.save_residence(residence)

    await _retrying(ctx, step)


async def on_hearing_check(ctx: HandlerContext, timer: Timer) -> None:
    hearing_on = date.fromisoformat(timer.payload["hearing_on"])

    async def step(work: LegalWork) -> None:
        residence = await work.residence_or_new(timer.case_id)
        if residence.version == 0:
            return  # no procedure: an EU citizen without documents stays under free movement, nothing to check
        if work.today > hearing_on:
            return  # fired late (the service was down past the hearing): a warning now would help no one
        if residence.warn_for_hearing(hearing_on=hearing_on, court=timer.payload["court"], on=work.today):
            await work.save_residence(residence)

    await _retrying(ctx, step)
