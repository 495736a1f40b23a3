"""Reactions to intake's, legal's and housing's events, and to the plan-review timers.

Facts reported by legal and housing only ever go through the track's ``note_*`` commands: the track records
the fact and flags the goals it touches; the plan itself is changed by the person and the caseworker.

A fact can arrive before the track exists: intake's ``CaseOpened`` travels on another topic, so nothing
orders it before legal's or housing's events. Retrying would not do: the inbox consumer retries a few times
within a second and then dead-letters, and intake may be minutes behind. So the fact is **parked** (a row in
``parked_facts``, written in the inbox transaction, so it is never lost and never parked twice) and applied
in the transaction that opens the track. Both sides take a per-case advisory lock first, so that a fact
parked while the track is being opened cannot slip between the opening's "read parked facts" and its commit.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from harbour.auth import Role
from harbour.clock import today
from harbour.events import DomainEvent
from harbour.kafka.consumer import HandlerContext
from harbour.store import RecordedEvent
from harbour.timers import Timer
from schemas.housing import HousingKind, PersonMoved
from schemas.intake import CaseOpened, PersonErased
from schemas.legal import (
    DocumentIssued,
    EndingReason,
    ProceedingsConcluded,
    ResidenceDocument,
    ResidenceStatusEnded,
    VoluntaryReturnChosen,
)
from services.tracks.commands import save_track
from services.tracks.domain import Track

# The caseworker of a track opened by someone who is not one of the centre's caseworkers (a manager, a
# system): a manager assigns a real one over HTTP, and the caseload of "unassigned" shows what is waiting.
UNASSIGNED = "unassigned"


class Fact(StrEnum):
    STATUS_GRANTED = "status-granted"
    STATUS_ENDED = "status-ended"
    RESIDENCE_SETTLED = "residence-settled"
    PROCEEDINGS_CONCLUDED = "proceedings-concluded"
    HOUSING_SECURED = "housing-secured"


def note(track: Track, fact: Fact, on: date) -> None:
    match fact:
        case Fact.STATUS_GRANTED:
            track.note_status_granted(on=on)
        case Fact.STATUS_ENDED:
            track.note_status_ended(on=on)
        case Fact.RESIDENCE_SETTLED:
            track.note_residence_settled(on=on)
        case Fact.PROCEEDINGS_CONCLUDED:
            track.note_proceedings_concluded(on=on)
        case Fact.HOUSING_SECURED:
            track.note_housing_secured(on=on)


def legal_facts(event: DomainEvent) -> list[tuple[Fact, date]]:
    """What a legal event means for a track.

    The victim status is granted with the A-card (the magistrate considers the person a victim) and made
    unlimited with the B-card. The residence procedure is settled when it can no longer change: a B-card,
    a status that ended (for any reason), or a voluntary return.
    """
    match event:
        case DocumentIssued(document=ResidenceDocument.A_CARD):
            return [(Fact.STATUS_GRANTED, event.decided_on)]
        case DocumentIssued(document=ResidenceDocument.B_CARD):
            return [(Fact.STATUS_GRANTED, event.decided_on), (Fact.RESIDENCE_SETTLED, event.decided_on)]
        case ResidenceStatusEnded(reason=EndingReason.STATUS_GRANTED_UNLIMITED):
            return [(Fact.RESIDENCE_SETTLED, event.ended_on)]  # ended because a B-card replaced it
        case ResidenceStatusEnded():
            return [(Fact.STATUS_ENDED, event.ended_on), (Fact.RESIDENCE_SETTLED, event.ended_on)]
        case VoluntaryReturnChosen():
            return [(Fact.RESIDENCE_SETTLED, event.chosen_on)]
        case ProceedingsConcluded():
            return [(Fact.PROCEEDINGS_CONCLUDED, event.concluded_on)]
    return []


def housing_facts(event: DomainEvent) -> list[tuple[Fact, date]]:
    match event:
        case PersonMoved(to=HousingKind.INDEPENDENT):
            return [(Fact.HOUSING_SECURED, event.on)]
    return []


CONSUMER = "tracks.reactions"  # consumer group and inbox name of all three subscriptions
LEGAL_EVENT_TYPES = frozenset(
    {"DocumentIssued", "ResidenceStatusEnded", "VoluntaryReturnChosen", "ProceedingsConcluded"}
)
HOUSING_EVENT_TYPES = frozenset({"PersonMoved"})
INTAKE_EVENT_TYPES = frozenset({"CaseOpened", "PersonErased"})


async def _lock_case(ctx: HandlerContext, case_id: str) -> None:
    # Serialises the handlers of one case (opening vs parking; see the module docstring) until commit.
    await ctx.conn.execute("SELECT pg_advisory_xact_lock(hashtext('tracks.case:' || $1))", case_id)


async def _apply_facts(ctx: HandlerContext, upstream: RecordedEvent, case_id: str,
                       facts: list[tuple[Fact, date]]) -> None:  # fmt: skip
    if not facts:
        return
    await _lock_case(ctx, case_id)
    track = await ctx.repository.load_or_new(Track, case_id, conn=ctx.conn)
    if not track.exists:
        await ctx.conn.executemany(
            """INSERT INTO parked_facts (event_id, fact, case_id, noted_on) VALUES ($1, $2, $3, $4)
               ON CONFLICT DO NOTHING""",
            [(upstream.event_id, fact.value, case_id, on) for fact, on in facts],
        )
        return
    for fact, on in facts:
        note(track, fact, on)
    await save_track(ctx.repository, track, ctx.command, ctx.conn)


async def on_legal_event(ctx: HandlerContext, event: RecordedEvent) -> None:
    """Notes the victim status, the settled residence procedure and concluded proceedings on the track."""
    payload = event.event
    await _apply_facts(ctx, event, str(getattr(payload, "case_id", event.case_id)), legal_facts(payload))


async def on_housing_event(ctx: HandlerContext, event: RecordedEvent) -> None:
    """Notes independent housing secured on the track."""
    payload = event.event
    await _apply_facts(ctx, event, str(getattr(payload, "case_id", event.case_id)), housing_facts(payload))


async def on_intake_event(ctx: HandlerContext, event: RecordedEvent) -> None:
    """Opens the track at admission (CaseOpened); erases the person's key here too (PersonErased)."""
    match event.event:
        case CaseOpened() as opened:
            await open_track(ctx, event, opened)
        case PersonErased() as erased:
            # Every sealed note, goal word and reason of this person in this service is unreadable from here.
            await ctx.runtime.vault.erase(ctx.conn, erased.person_id)


async def open_track(ctx: HandlerContext, event: RecordedEvent, opened: CaseOpened) -> None:
    await _lock_case(ctx, opened.case_id)
    track = await ctx.repository.load_or_new(Track, opened.case_id, conn=ctx.conn)
    if track.exists:
        return  # the same admission republished (a replay gives it a new delivery, not a second track)
    actor = event.actor
    admitted_by_caseworker = actor.org == opened.centre and actor.role == Role.CASEWORKER and bool(actor.user)
    track.open(
        centre=opened.centre,
        person_id=opened.person_id,
        caseworker_id=actor.user if admitted_by_caseworker and actor.user else UNASSIGNED,
        opened_on=opened.opened_on,
        review_interval_months=ctx.runtime.settings.plan_review_months,
    )
    parked = await ctx.conn.fetch(
        "DELETE FROM parked_facts WHERE case_id = $1 RETURNING fact, noted_on, parked_at", opened.case_id
    )
    for row in sorted(parked, key=lambda r: (r["noted_on"], r["parked_at"], r["fact"])):
        note(track, Fact(row["fact"]), row["noted_on"])
    await save_track(ctx.repository, track, ctx.command, ctx.conn)


# --- plan-review timers (scheduled by services.tracks.deadlines) --------------------------------------


async def _review_timer(ctx: HandlerContext, timer: Timer, *, overdue: bool) -> None:
    track = await ctx.repository.load_or_new(Track, timer.case_id, conn=ctx.conn)
    due = date.fromisoformat(timer.payload["review_due"])
    # The domain ignores a stale timer (the plan was reviewed, or the track closed, since it was set).
    if overdue:
        track.mark_plan_review_overdue(review_due=due, today=today(ctx.clock))
    else:
        track.remind_plan_review(review_due=due, today=today(ctx.clock))
    await save_track(ctx.repository, track, ctx.command, ctx.conn)


async def on_review_reminder(ctx: HandlerContext, timer: Timer) -> None:
    await _review_timer(ctx, timer, overdue=False)


async def on_review_overdue(ctx: HandlerContext, timer: Timer) -> None:
    await _review_timer(ctx, timer, overdue=True)
