"""Reactions of intake to other services' events.

Intake is where a case starts, so it follows one fact only: tracks' ``TransferAccepted``, the published
case-level transfer. From its acceptance the receiving centre holds the intake file (it acts on the case and
reads the person's identity, audited); the former centre keeps its own period's history (harbour.custody).
Erasure starts here and travels out as ``PersonErased``. Subscriptions go in ``SUBSCRIPTIONS``, wired by
``app.DEFINITION``.
"""

from __future__ import annotations

import logging

import schemas.tracks  # registers the contracts the subscription decodes
from harbour import custody
from harbour.kafka.consumer import HandlerContext, Subscription
from harbour.store import RecordedEvent

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


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    Subscription(
        topic="tracks.events.v1",
        consumer="intake.transfers",
        handle=on_transfer_accepted,
        event_types=frozenset({"TransferAccepted"}),
        description="a transfer moves the intake file to the receiving centre",
    ),
)
