"""The one command of the service: submit a tip (load–decide–save, through ``harbour.commands.run_command``)."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import Response

from harbour import telemetry
from harbour.clock import today
from harbour.commands import run_command
from harbour.db import Connection
from harbour.errors import RuleViolation
from harbour.service import ServiceRuntime
from harbour.store import Actor, CommandContext, lock_stream
from schemas.catalogue import load_catalogue
from schemas.intake import ExploitationType
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
        subject = f"tip-{tip_id}"  # the tip's own key: erasing it makes what was said, and the contact, unreadable
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
