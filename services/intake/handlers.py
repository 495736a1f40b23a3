"""Reactions of intake to other services' events.

Intake is where a case starts. It follows two facts: signals' ``TipSubmitted``, a tip from the public that becomes a
lead for the centre of its region (a lead is not yet a case: the centre decides whether to refer), and tracks'
``TransferAccepted``, the published case-level transfer. From its acceptance the receiving centre holds the intake
file (it acts on the case and reads the person's identity, audited); the former centre keeps its own period's
history (harbour.custody). Erasure starts here and travels out as ``PersonErased``. Subscriptions go in
``SUBSCRIPTIONS``, wired by ``app.DEFINITION``.
"""

from __future__ import annotations

import logging

import schemas.signals  # registers the contracts the subscriptions decode
import schemas.tracks
from harbour import custody
from harbour.clock import today
from harbour.kafka.consumer import HandlerContext, Subscription
from harbour.store import RecordedEvent
from services.intake.domain import Lead

log = logging.getLogger("harbour.intake.handlers")


async def on_transfer_accepted(ctx: HandlerContext, recorded: RecordedEvent) -> None:
    """Record the hand-over in the inbox's transaction: a redelivery is the same (case, seq) and changes nothing.

    A transfer of a case intake never opened is recorded too, as custody is keyed to converge whatever the
    order; it gives nobody access, since every read and command first needs the case intake opened.
    """
    event = recorded.event
    assert isinstance(event, schemas.tracks.TransferAccepted)
    known = await ctx.conn.fetchval("SELECT 1 FROM centre_cases WHERE case_id = $1", event.case_id)
    if known is None:
        # Ids only: the event's id tells operators which record, nothing about the person.
        log.warning("transfer %s is for a case intake does not know", recorded.event_id)
    await custody.hand_over(ctx.conn, event.case_id, to_centre=event.to_centre.value,
                            seq=recorded.stream_version, on=event.accepted_on)  # fmt: skip


async def on_tip_submitted(ctx: HandlerContext, recorded: RecordedEvent) -> None:
    """Make the tip a lead for the centre it is routed to, once: the lead's id is the tip's, so a redelivery,
    or a replay of the signals topic under a new consumer group, finds the lead there and records nothing."""
    tip = recorded.event
    assert isinstance(tip, schemas.signals.TipSubmitted)
    lead = await ctx.repository.load_or_new(Lead, tip.tip_id, conn=ctx.conn)
    if lead.exists:
        return
    # Only the routing facts cross over: the description and the callback stay sealed in signals (docs/tips.md).
    lead.open(centre=tip.centre, region=tip.region, postcode=tip.postcode,
              seen_on=tip.seen_on, exploitation_types=tip.exploitation_types, signal_ids=tip.signal_ids,
              catalogue_version=tip.catalogue_version, submitted_on=tip.submitted_on,
              on=today(ctx.clock))  # fmt: skip
    await ctx.repository.save(lead, ctx.command, conn=ctx.conn)


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    Subscription(
        topic="signals.events.v1",
        consumer="intake.leads",
        handle=on_tip_submitted,
        event_types=frozenset({"TipSubmitted"}),
        description="a tip from the public becomes a lead for the centre of its region",
    ),
    Subscription(
        topic="tracks.events.v1",
        consumer="intake.transfers",
        handle=on_transfer_accepted,
        event_types=frozenset({"TransferAccepted"}),
        description="a transfer moves the intake file to the receiving centre",
    ),
)
