"""Statistics consumes intake's, legal's and tracks' events into its fact table (through the inbox).

Each event is folded into its case's row (``facts.fold``) in the inbox's transaction: a redelivery is
recognised by the inbox and has no second effect. The record key and the case id are used for the row's HMAC
key only, never logged: a case's events of different topics arrive in any order, and a row is counted only once
intake's CaseOpened is in it. ``PersonErased`` is not consumed: a row holds nothing of the person.
"""

from __future__ import annotations

from functools import partial

import schemas.intake
import schemas.legal
import schemas.tracks  # imported, all three, so that their event types are known to the decoder
from harbour.kafka.consumer import HandlerContext, Subscription
from harbour.store import RecordedEvent
from services.statistics import facts, store


async def on_fact(ctx: HandlerContext, event: RecordedEvent) -> None:
    if isinstance(event.event, schemas.intake.CaseProfiled) and event.event.case_id is None:
        return  # a referral's profile, keyed by the referral: no case to count yet (admission records it again)
    secret = store.secret(ctx.runtime.settings)
    # The contract's case id, never the record key: a profile is keyed by the case only from admission on, and
    # a case's row must be the same whichever of its events comes first.
    case_id = getattr(event.event, "case_id", None) or event.case_id
    await store.record(ctx.conn, secret, case_id, partial(_fold, event=event))


def _fold(fact: facts.Fact, *, event: RecordedEvent) -> facts.Fact:
    return facts.fold(fact, event.event)


SUBSCRIPTIONS = [
    Subscription(topic="intake.events.v1", consumer="statistics.intake-facts", handle=on_fact,
                 event_types=facts.INTAKE_EVENTS,
                 description="A case admitted (its coarse attributes), its coarse profile (sex, age band, "
                             "citizenship group, world region) and minority established or disproved."),
    Subscription(topic="legal.events.v1", consumer="statistics.legal-facts", handle=on_fact,
                 event_types=facts.LEGAL_EVENTS,
                 description="Residence stages, lapses and voluntary returns; district, civil party and verdict."),
    Subscription(topic="tracks.events.v1", consumer="statistics.tracks-facts", handle=on_fact,
                 event_types=facts.TRACKS_EVENTS, description="How the track closed; who holds the case now."),
]  # fmt: skip
