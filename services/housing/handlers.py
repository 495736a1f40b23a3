"""Reactions to other services' events, each in the inbox's transaction (exactly one effect per event).

- intake ``CaseOpened``: housing learns which centre follows the case and whose person it is; when a
  shelter is needed tonight, a placement is requested at the admitting centre at once.
- tracks ``TransferAccepted``: the case is now held by the receiving centre (``harbour.custody``: a period
  keyed by the acceptance's version in the track's stream, so a redelivered or late older transfer never moves
  the case back). Placements stay where they are: a person in the former centre's shelter sleeps there until
  the new holder moves them (or the host records their exit).
- intake ``PersonErased``: the person's key in housing's own vault is destroyed, so the sealed address of
  their independent housing reads as erased wherever a copy of it went.
"""

from __future__ import annotations

import logging

from harbour import custody
from harbour.clock import local_day
from harbour.errors import RuleViolation
from harbour.kafka.consumer import HandlerContext
from harbour.store import RecordedEvent
from schemas.housing import HousingKind, PlacementSource, Urgency
from schemas.intake import CaseOpened, PersonErased
from schemas.tracks import TransferAccepted
from services.housing.access import lock_case
from services.housing.commands import Unit

log = logging.getLogger("harbour.housing.handlers")


async def on_case_opened(ctx: HandlerContext, message: RecordedEvent) -> None:
    """Follow the new case; request a shelter bed tonight at the admitting centre when intake says so."""
    event = message.event
    assert isinstance(event, CaseOpened)
    await lock_case(ctx.conn, event.case_id)
    await custody.admit(ctx.conn, event.case_id, event.centre.value, event.opened_on)
    await ctx.conn.execute(
        """INSERT INTO case_registry (case_id, person_id, centre, opened_on) VALUES ($1, $2, $3, $4)
           ON CONFLICT (case_id) DO NOTHING""",
        event.case_id, event.person_id, event.centre.value, event.opened_on,
    )  # fmt: skip
    # A transfer consumed before the admission (another topic, nothing orders them) already holds the case.
    await _follow_holder(ctx, event.case_id)
    if not event.needs_shelter_tonight:
        return
    unit = Unit(ctx.repository, ctx.conn, ctx.command)
    if (await unit.placement(event.case_id)).stage is HousingKind.SHELTER:
        return
    network = await unit.network(event.centre.value)
    try:
        # The request id derives from the intake event: the same CaseOpened can never ask twice.
        network.request_placement(
            request_id=f"intake-{message.event_id}", case_id=event.case_id, needs=frozenset(),
            urgency=Urgency.TONIGHT, source=PlacementSource.INTAKE, requested_at=message.occurred_at,
            on=local_day(message.occurred_at),
        )  # fmt: skip
    except RuleViolation as refused:
        # E.g. the centre has no bed that a request without stated needs fits (only women-only rooms):
        # not the message's fault, so no dead letter; the caseworker places the person with their needs.
        log.warning("no automatic placement for case %s: %s", event.case_id, refused.detail)
        return
    await unit.commit()


async def on_transfer_accepted(ctx: HandlerContext, message: RecordedEvent) -> None:
    """The receiving centre holds the case from now on: it acts on the case's housing and reads all of it; the
    former centre reads what housing recorded until now. Idempotent and order-proof: the hand-over is keyed by
    the acceptance's version in the track's stream, and the holder is always the latest of them."""
    event = message.event
    assert isinstance(event, TransferAccepted)
    await lock_case(ctx.conn, event.case_id)  # a command of the former holder commits before this, or sees it
    # hand_over stamps the period's end after this lock: a command that committed while we waited is the former's.
    await custody.hand_over(ctx.conn, event.case_id, to_centre=event.to_centre.value,
                            seq=message.stream_version, on=event.accepted_on)  # fmt: skip
    await _follow_holder(ctx, event.case_id)


async def _follow_holder(ctx: HandlerContext, case_id: str) -> None:
    """``case_registry.centre`` names the holder (the latest hand-over), never an older one."""
    held = await custody.load(ctx.conn, case_id)
    if held is not None:
        await ctx.conn.execute("UPDATE case_registry SET centre = $2 WHERE case_id = $1", case_id, held.centre)


async def on_person_erased(ctx: HandlerContext, message: RecordedEvent) -> None:
    """Crypto-shred the person's data held by housing (each service owns its keys)."""
    event = message.event
    assert isinstance(event, PersonErased)
    await ctx.runtime.vault.erase(ctx.conn, event.person_id)
