"""The commands of the service (load–decide–save, through ``harbour.commands.run_command``): submit a tip (the
public), erase one (its centre's manager); and the audited read of what a tip said (its centre's staff)."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import Response

from harbour import telemetry
from harbour.audit import record_read
from harbour.auth import Caller
from harbour.clock import today
from harbour.commands import run_command
from harbour.db import Connection
from harbour.errors import NotFound, RuleViolation
from harbour.pii import ERASED
from harbour.service import ServiceRuntime
from harbour.store import Actor, CommandContext, lock_stream
from schemas.catalogue import load_catalogue
from schemas.intake import ExploitationType
from schemas.signals import TipErasureReason, TipSubmitted
from services.signals.access import require_centre
from services.signals.domain import Tip

# The actor every tip is recorded under: nobody in particular (no address, no session, no browser).
ANONYMOUS = Actor("public", "anonymous", "anonymous")
# Idempotency keys of the public share one namespace: a key is a random value the tip page made (or the client
# chose), never something that names the tipster.
PUBLIC_ORG = "public"
# Tip ids made from a form's one-time key: the same form sent twice is the same tip, recorded once.
_FORM_TIPS = uuid.UUID("6c0f5d0e-3c55-4d8a-9d0b-2f6c4a8f1e17")
MAX_BODY_BYTES = 8192


class TipIn(BaseModel):
    """What a tipster tells: what, where, when, which kind of exploitation, and optionally how to call back."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1, max_length=2000, description="what was seen, in the tipster's words")
    postcode: str = Field(pattern=r"^[1-9][0-9]{3}$", description="the Belgian postcode where it was seen")
    municipality: str | None = Field(None, min_length=1, max_length=80)
    seen_on: date | None = None
    exploitation_types: list[ExploitationType] = Field(default_factory=list, max_length=8)
    signal_ids: list[str] = Field(default_factory=list, max_length=64, description="ids from the signals catalogue")
    callback: str | None = Field(None, min_length=1, max_length=200, description="an optional way to call back")

    @field_validator("description", "municipality", "callback", "signal_ids")
    @classmethod
    def no_control_characters(cls, value: object) -> object:
        # The form (POST /tip) is read outside the JSON guard (harbour.http.inputs): a NUL in the municipality
        # reached PostgreSQL's jsonb and gave a 500. No one types a control character; line breaks and tabs in
        # the description are kept.
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and any((ord(c) < 32 and c not in "\n\r\t") or c == "\x7f" for c in text):
                raise ValueError("holds a control character")
        return value


class TipReceived(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tip_id: str


def form_tip_id(form_key: str) -> str:
    return uuid.uuid5(_FORM_TIPS, form_key).hex


def check_signals(signal_ids: list[str]) -> None:
    unknown = sorted(set(signal_ids) - load_catalogue().signal_ids())
    if unknown:
        raise RuleViolation(f"unknown signals: {', '.join(unknown)}", field="signal_ids")


async def submit(rt: ServiceRuntime, body: TipIn, tip_id: str) -> Response:
    """Record the tip once; the same tip id again (a form sent twice) records nothing and answers the same."""

    async def work(conn: Connection) -> TipReceived:
        tip = await rt.repository.load_or_new(Tip, tip_id, conn=conn)
        if tip.exists:
            return TipReceived(tip_id=tip_id)
        check_signals(body.signal_ids)
        day = today(rt.clock)
        if body.seen_on is not None and body.seen_on > day:
            raise RuleViolation("the day it was seen cannot be in the future", field="seen_on")
        # The seals are written before the append: take the stream's append lock first (CONVENTIONS).
        await lock_stream(conn, tip.stream_id)
        event_id = uuid.uuid4()
        subject = tip_subject(tip_id)  # the tip's own key: erasing it makes what was said, and the contact, unreadable
        description = await rt.vault.seal(conn, subject, "description", body.description, event_id)
        callback = await rt.vault.seal(conn, subject, "callback", body.callback, event_id) if body.callback else None
        tip.submit(postcode=body.postcode, municipality=body.municipality, seen_on=body.seen_on,
                   exploitation_types=tuple(body.exploitation_types), signal_ids=tuple(body.signal_ids),
                   catalogue_version=load_catalogue().version, description=description, callback=callback,
                   today=day, event_id=event_id)  # fmt: skip
        context = CommandContext(actor=ANONYMOUS, traceparent=telemetry.current_traceparent())
        await rt.repository.save(tip, context, conn=conn)
        return TipReceived(tip_id=tip_id)

    return await run_command(rt.store.transaction, work, org=PUBLIC_ORG, queue_on=None, body=body,
                             personal=("description", "callback"))  # fmt: skip


def tip_subject(tip_id: str) -> str:
    """The vault's subject of a tip: its own key, so that erasing it leaves every other tip readable."""
    return f"tip-{tip_id}"


def missing_tip(tip_id: str) -> str:
    return f"no tip {tip_id}"


class TipView(BaseModel):
    """A tip as its centre reads it: the facts it was routed on, and what the tipster said (opened for this read)."""

    model_config = ConfigDict(extra="forbid")

    tip_id: str
    centre: str
    region: str
    postcode: str
    municipality: str | None
    seen_on: date | None
    exploitation_types: list[ExploitationType]
    signal_ids: list[str]
    catalogue_version: str
    submitted_on: date
    description: str = Field(description=f"what was seen, in the tipster's words; {ERASED!r} once erased")
    callback: str | None = Field(description=f"the way to call the tipster back, if given; {ERASED!r} once erased")
    erased_on: date | None


class TipErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: TipErasureReason


class TipErasedView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tip_id: str
    erased_on: date
    reason: TipErasureReason


async def own_tip(
    rt: ServiceRuntime, conn: Connection, caller: Caller, tip_id: str
) -> tuple[Tip, TipSubmitted, uuid.UUID]:
    """The tip, the event that told it and that event's id (the seals' binding); 404 when not the caller's."""
    recorded = await rt.store.read_stream(Tip(tip_id).stream_id, conn=conn)
    submitted = [(r.event, r.event_id) for r in recorded if isinstance(r.event, TipSubmitted)]
    if not submitted:
        raise NotFound(missing_tip(tip_id))
    tip = Tip(tip_id)
    tip.replay(r.event for r in recorded)
    require_centre(caller, tip.centre, missing=missing_tip(tip_id))
    event, event_id = submitted[0]
    return tip, event, event_id


async def read_tip(rt: ServiceRuntime, caller: Caller, tip_id: str, purpose: str) -> TipView:
    """Open what the tip said and record the read, in one transaction: a response that shows it is a recorded read."""
    async with rt.store.transaction() as conn:
        tip, told, event_id = await own_tip(rt, conn, caller, tip_id)
        description, callback = await rt.vault.open_many(
            conn, [(told.description, "description", event_id), (told.callback, "callback", event_id)]
        )
        what = "description,callback" if told.callback is not None else "description"
        await record_read(conn, org=caller.org, role=str(caller.role), user=caller.user, person_id=tip_subject(tip_id),
                          what=what, purpose=purpose, at=rt.clock.now())  # fmt: skip
    return TipView(
        tip_id=tip_id, centre=told.centre, region=told.region, postcode=told.postcode, municipality=told.municipality,
        seen_on=told.seen_on, exploitation_types=list(told.exploitation_types), signal_ids=list(told.signal_ids),
        catalogue_version=told.catalogue_version, submitted_on=told.submitted_on,
        description=ERASED if description is None else description,
        callback=None if told.callback is None else (ERASED if callback is None else callback),
        erased_on=tip.erased_on,
    )  # fmt: skip


async def erase(rt: ServiceRuntime, caller: Caller, tip_id: str, body: TipErasureRequest) -> Response:
    """Destroy the tip's key and record ``TipErased``, in one transaction (neither without the other)."""

    async def work(conn: Connection) -> TipErasedView:
        # The stream's lock first: two erasures of one tip wait on each other, and the second is refused (422).
        await lock_stream(conn, Tip(tip_id).stream_id)
        tip, _, _ = await own_tip(rt, conn, caller, tip_id)
        day = today(rt.clock)
        tip.erase(reason=body.reason, on=day)
        await rt.vault.erase(conn, tip_subject(tip_id))
        await rt.repository.save(tip, rt.command_context(caller), conn=conn)
        return TipErasedView(tip_id=tip_id, erased_on=day, reason=body.reason)

    return await run_command(rt.store.transaction, work, org=caller.org, queue_on=None, body=body)
