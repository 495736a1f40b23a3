"""An office's webhooks over HTTP: register an endpoint, read it and its delivery log, resume it from a cursor.

Access: the feed's rule (``access.own_feed``): any token may ask, only the audience itself acts on its own
feed's webhooks (another audience's is a 403, an audience that does not exist a 404), and another audience's
subscription is a 404 as if it did not exist. Commands run through ``harbour.commands.run_command`` (one
transaction, Idempotency-Key). README "Webhooks".
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from uuid import UUID, uuid4

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from harbour.commands import Answer, run_command
from harbour.db import Connection
from harbour.errors import NotFound, RuleViolation
from harbour.http import pages
from harbour.pii import Sealed
from harbour.service import RuntimeDep, ServiceRuntime
from services.feeds.access import OwnFeed, own_feed
from services.feeds.domain import MAX_CURSOR, MAX_PAGE
from services.feeds.webhooks import delivery, store
from services.feeds.webhooks.targets import MAX_URL_LENGTH, check_url

router = APIRouter(prefix="/feeds", tags=["webhooks"], lifespan=delivery.lifespan)

SECRET_BYTES = 32  # 256 bits, the HMAC-SHA256 key the Standard Webhooks scheme signs with


# Integers of bodies past int64 are refused by the service frame (harbour/http/inputs.py), which also writes the
# int64 bounds into the document: a ``le=`` here would be printed as a float past the bound.


class Registration(BaseModel):
    """An HTTPS endpoint to send the audience's feed to, from the entry after ``after``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH,
                     description="https only; no credentials, no fragment, no internal address")  # fmt: skip
    after: int = Field(0, ge=0, description="deliver the feed's entries after this cursor (0: all)")


class Resumption(BaseModel):
    """Where deliveries continue: after the last delivered entry (no ``after``), or after a cursor of the feed."""

    model_config = ConfigDict(extra="forbid")

    after: int | None = Field(
        None, ge=0, description="a cursor of the feed (at most its last); absent: the last delivered"
    )


class Subscription(BaseModel):
    subscription_id: UUID
    audience: str
    url: str
    status: Literal["active", "paused"]
    delivered: int = Field(ge=0, description="the last cursor the endpoint acknowledged")
    failures: int = Field(ge=0, description="failed attempts in a row of the next entry")
    next_attempt_at: datetime = Field(description="when the next entry is tried (once there is one)")
    paused_at: datetime | None
    created_at: datetime


class Registered(Subscription):
    secret: str = Field(repr=False, description="the signing secret (whsec_...): shown in this answer only, keep it")


class SubscriptionPage(BaseModel):
    items: list[Subscription]
    next: str | None = Field(description="pass as `after` for the next page; null on the last page")


class Delivery(BaseModel):
    attempt: int = Field(ge=1, description="the attempt's number: increasing, not consecutive")
    cursor: int = Field(ge=1, description="the feed entry sent")
    webhook_id: str = Field(description="the webhook-id header sent: the same for every attempt of an entry")
    attempted_at: datetime
    outcome: Literal["delivered", "failed"]
    status_code: int | None = Field(description="the endpoint's answer; null when none came")
    error: Literal["timeout", "connection", "refused-address", "redirect", "status", "secret-destroyed"] | None
    paused: bool = Field(description="this failure paused the subscription")


class DeliveryPage(BaseModel):
    items: list[Delivery]
    next: str | None = Field(description="pass as `after` for the next page; null on the last page")


SUBSCRIPTION = PathParam(description="the subscription's id, as its registration answered")
AFTER = Query(None, max_length=200, pattern=pages.CURSOR_PATTERN, description="the `next` of the previous page")
LIMIT = Query(100, ge=1, le=MAX_PAGE)


def _view(row: Mapping[str, Any] | asyncpg.Record) -> Subscription:
    return Subscription.model_validate({**dict(row), "delivered": row["delivered_cursor"]})


async def _check_cursor(conn: Connection, audience: str, after: int) -> None:
    # A cursor past the feed's last one was never given: it would skip entries not yet stored.
    if after > await store.feed_head(conn, audience):
        raise RuleViolation("after must be a cursor of this feed: at most its last", field="after")


@router.post("/{audience}/webhooks", status_code=201, response_model=Registered,
             summary="Register an HTTPS endpoint to be sent the audience's feed")  # fmt: skip
async def register(
    request: Request,
    body: Registration,
    own: OwnFeed = Depends(own_feed("webhook.register")),
    rt: ServiceRuntime = RuntimeDep,
) -> Response:
    deliverer: delivery.Deliverer = request.app.state.webhooks
    check_url(body.url, deliverer.settings)  # before anything is written: a refused URL changes nothing

    async def work(conn: Connection) -> Answer:
        await _check_cursor(conn, own.audience, body.after)
        subscription_id = uuid4()
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()
        sealed = await rt.vault.seal(conn, delivery.vault_subject(subscription_id), delivery.SECRET_FIELD, secret,
                                     aad=str(subscription_id))  # fmt: skip
        row = await store.insert(conn, subscription_id=subscription_id, audience=own.audience, url=body.url,
                                 secret=sealed.model_dump_json(), after=body.after, now=rt.clock.now())  # fmt: skip
        await store.notify(conn, own.audience)  # the workers of every replica look at it once this commits
        # The answer recorded with the Idempotency-Key is without the secret, so the secret is stored nowhere in
        # clear; it is added to the answer as it is sent (and to a replay of it), opened from the vault.
        return Answer(_view(row), location=f"/feeds/{own.audience}/webhooks/{subscription_id}")

    response = await run_command(rt.store.transaction, work, org=own.caller.org, queue_on=None, body=body)
    return await _with_secret(rt, own.audience, response)


async def _with_secret(rt: ServiceRuntime, audience: str, response: Response) -> Response:
    if response.status_code != 201:
        return response
    view = Subscription.model_validate_json(bytes(response.body))
    async with rt.pool.acquire() as conn:
        sealed = await store.sealed_secret(conn, audience, view.subscription_id)
        if sealed is None:
            raise NotFound("the subscription no longer exists", field="subscription_id")
        secret = await rt.vault.open(conn, Sealed.model_validate_json(sealed), delivery.SECRET_FIELD,
                                     str(view.subscription_id))  # fmt: skip
    if secret is None:
        raise NotFound("the subscription's secret was destroyed", field="subscription_id")
    answer = Registered(**view.model_dump(), secret=secret)
    headers = {k: v for k, v in response.headers.items() if k.lower() not in {"content-length", "content-type"}}
    return Response(answer.model_dump_json(), status_code=201, headers=headers, media_type="application/json")


@router.get("/{audience}/webhooks", response_model=SubscriptionPage, summary="The audience's webhook subscriptions")
async def subscriptions(
    own: OwnFeed = Depends(own_feed("webhook.read")),
    after: str | None = AFTER,
    limit: int = LIMIT,
    rt: ServiceRuntime = RuntimeDep,
) -> SubscriptionPage:
    start = UUID(pages.read_cursor(after, _uuid_text)[0]) if after is not None else None
    async with rt.pool.acquire() as conn:
        rows = await store.page(conn, own.audience, start, limit + 1)
    shown = [_view(r) for r in rows[:limit]]
    more = len(rows) > limit
    return SubscriptionPage(items=shown, next=pages.cursor(str(shown[-1].subscription_id)) if more else None)


@router.get("/{audience}/webhooks/{subscription_id}", response_model=Subscription,
            summary="One webhook subscription: its state and where its deliveries are")  # fmt: skip
async def subscription(
    subscription_id: UUID = SUBSCRIPTION,
    own: OwnFeed = Depends(own_feed("webhook.read")),
    rt: ServiceRuntime = RuntimeDep,
) -> Subscription:
    async with rt.pool.acquire() as conn:
        row = await store.load(conn, own.audience, subscription_id)
    if row is None:
        raise NotFound("there is no such subscription of this audience", field="subscription_id")
    return _view(row)


@router.post("/{audience}/webhooks/{subscription_id}/resume", response_model=Subscription,
             summary="Resume deliveries: after the last delivered entry, or after a cursor of the feed")  # fmt: skip
async def resume(
    body: Resumption,
    subscription_id: UUID = SUBSCRIPTION,
    own: OwnFeed = Depends(own_feed("webhook.resume")),
    rt: ServiceRuntime = RuntimeDep,
) -> Response:
    async def work(conn: Connection) -> Subscription:
        # Waits for an attempt in flight (its worker holds the row): the resume then decides on its outcome.
        if await store.load(conn, own.audience, subscription_id, lock=True) is None:
            raise NotFound("there is no such subscription of this audience", field="subscription_id")
        if body.after is not None:
            await _check_cursor(conn, own.audience, body.after)
        await store.notify(conn, own.audience)
        return _view(await store.resume(conn, subscription_id, after=body.after, now=rt.clock.now()))

    return await run_command(rt.store.transaction, work, org=own.caller.org, queue_on=None, body=body)


@router.get("/{audience}/webhooks/{subscription_id}/deliveries", response_model=DeliveryPage,
            summary="The subscription's delivery log: every attempt, oldest first")  # fmt: skip
async def deliveries(
    subscription_id: UUID = SUBSCRIPTION,
    own: OwnFeed = Depends(own_feed("webhook.read")),
    after: str | None = AFTER,
    limit: int = LIMIT,
    rt: ServiceRuntime = RuntimeDep,
) -> DeliveryPage:
    start = pages.read_cursor(after, _attempt_number)[0] if after is not None else 0
    async with rt.pool.acquire() as conn:
        if await store.load(conn, own.audience, subscription_id) is None:
            raise NotFound("there is no such subscription of this audience", field="subscription_id")
        rows = await store.deliveries(conn, subscription_id, start, limit + 1)
    shown = [Delivery.model_validate(dict(r)) for r in rows[:limit]]
    more = len(rows) > limit
    return DeliveryPage(items=shown, next=pages.cursor(shown[-1].attempt) if more else None)


def _uuid_text(value: object) -> str:
    return str(UUID(pages.text(value)))


def _attempt_number(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_CURSOR:
        raise ValueError("not an attempt number")
    return value
