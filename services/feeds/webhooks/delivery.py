"""The delivery workers: each due subscription is sent the next entry of its feed, signed, until it is caught up.

One attempt is one transaction. A worker takes a due subscription with ``FOR UPDATE SKIP LOCKED``
(``store.claim``: one delivery in flight per subscription, across workers and replicas), reads the entry after
its last delivered cursor, signs it with the Standard Webhooks library, posts it, and records the outcome (the
new cursor, or the failure count and the next attempt's time) with its row of the delivery log, then commits.

So, across a crash or a restart: an entry whose 2xx was committed is never sent again, and one whose attempt
did not commit is sent again with the same ``webhook-id`` (the feed entry's milestone id), which the receiver
deduplicates on. Nothing is lost (the cursor only moves past an acknowledged entry), and entries leave one at
a time in cursor order (the next one is read only after the previous one was acknowledged).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from fastapi import FastAPI
from standardwebhooks.webhooks import Webhook

from harbour.pii import Sealed
from harbour.service import ServiceRuntime
from schemas.milestones import Milestone
from services.feeds.domain import FeedItem
from services.feeds.webhooks import store
from services.feeds.webhooks.settings import WebhookSettings
from services.feeds.webhooks.targets import RefusedAddress, check_resolved

log = logging.getLogger("harbour.feeds.webhooks")

SECRET_FIELD = "webhook_secret"  # the vault's field name of a subscription's sealed secret
EVENT_TYPE_PREFIX = "milestone."
USER_AGENT = "Harbour-Feeds-Webhooks/1"
ERROR_PAUSE_SECONDS = 2.0  # after a pass that failed (the database away): soon again, without a hot loop


def vault_subject(subscription_id: UUID) -> str:
    """The vault's subject of a subscription's secret: a key of its own, so deleting one destroys only it."""
    return f"webhook:{subscription_id}"


def webhook_id(milestone_id: UUID) -> str:
    """The ``webhook-id`` of a feed entry: the same for every attempt and every resume, so receivers dedupe."""
    return f"msg_{milestone_id.hex}"


def backoff(failures: int, settings: WebhookSettings) -> timedelta:
    """How long after its ``failures``-th failed attempt an entry is tried again."""
    seconds = settings.backoff_initial_seconds * settings.backoff_factor ** (failures - 1)
    return timedelta(seconds=min(settings.backoff_max_seconds, seconds))


def payload(audience: str, row: Any) -> str:
    """The request body: a Standard Webhooks envelope around the feed item (what a page or the stream shows)."""
    item = FeedItem(cursor=row["seq"], milestone=Milestone.model_validate_json(row["milestone"]))
    envelope = {"type": EVENT_TYPE_PREFIX + item.milestone.milestone.value,
                "timestamp": row["stored_at"].astimezone(UTC).isoformat(),
                "audience": audience,
                "data": item.model_dump(mode="json")}  # fmt: skip
    return json.dumps(envelope, separators=(",", ":"))


def signed_headers(secret: str, message_id: str, moment: datetime, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers (the library signs: ``v1,`` HMAC-SHA256 of id.timestamp.body)."""
    at = moment.astimezone(UTC)
    return {"webhook-id": message_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(secret).sign(message_id, at, body),
            "content-type": "application/json", "user-agent": USER_AGENT}  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status_code: int | None
    error: str | None  # a closed name: timeout, connection, refused-address, redirect, status


class Deliverer:
    """The workers of one process (``settings.workers`` of them), started and stopped with the service."""

    def __init__(self, rt: ServiceRuntime, settings: WebhookSettings) -> None:
        self.rt = rt
        self.settings = settings
        self._client = httpx.AsyncClient(timeout=settings.timeout_seconds, follow_redirects=False,
                                         headers={"user-agent": USER_AGENT})  # fmt: skip
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        # One ring, one worker: a notification used to wake every idle worker, and each ran a transaction to find
        # (mostly) nothing due, on every milestone even with no webhook registered. The worker that answers takes
        # the ring (``_rung``); one whose pass delivered rings again, so another joins while there is work.
        self._bell = asyncio.Event()
        self._rung = False

    async def start(self) -> None:
        count = self.settings.workers
        self._tasks = [asyncio.create_task(self._run(), name=f"feeds:webhooks:{i}") for i in range(count)]

    def wake(self) -> None:
        """Look again now: a milestone, a registration or a resume committed (``FeedSignal``, any replica)."""
        self._rung = True
        self._bell.set()

    async def _answer(self) -> None:
        """Wait until the bell rings and take the ring; a worker that finds it already taken waits on."""
        while True:
            await self._bell.wait()
            if self._rung:
                self._rung = False
                self._bell.clear()
                return
            self._bell.clear()

    async def close(self) -> None:
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            # An attempt cut short rolls back: its entry is sent again, same webhook-id, after the restart.
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._client.aclose()

    async def _run(self) -> None:
        while not self._closed:
            # A ring during the pass stays rung (nobody took it): the wait below, or another worker's, returns.
            wait = self.settings.poll_seconds
            try:
                pause = await self.deliver_once()
            except Exception as error:  # the database away, say: the attempt rolled back, nothing is lost
                log.warning("webhook delivery pass failed (%s)", type(error).__name__)
                pause = ERROR_PAUSE_SECONDS
            if pause is None:
                self.wake()  # it delivered: there may be more, for other subscriptions too; another worker helps
                continue
            # Idle, a worker holds no connection: it waits for a notification, the next retry's time, or at most
            # poll_seconds (a lost notification costs that much latency, never a delivery).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(wait, pause)):
                    await self._answer()

    async def deliver_once(self) -> float | None:
        """One attempt for one due subscription, committed with its outcome (None); when nothing was due, the
        seconds until the next retry is due (at most ``poll_seconds``)."""
        async with self.rt.store.transaction() as conn:
            now = self.rt.clock.now()
            claimed = await store.claim(conn, now)
            if claimed is None:
                due = await store.next_due(conn)
                if due is None:
                    return self.settings.poll_seconds
                return max(0.0, min(self.settings.poll_seconds, (due - now).total_seconds()))
            subscription_id: UUID = claimed["subscription_id"]
            entry = await store.next_entry(conn, claimed["audience"], claimed["delivered_cursor"])
            sealed = Sealed.model_validate_json(claimed["secret"])
            secret = await self.rt.vault.open(conn, sealed, SECRET_FIELD, str(subscription_id))
            message_id = webhook_id(entry["milestone_id"])
            if secret is None:  # its key destroyed: nothing can be signed any more
                outcome = Outcome(False, None, "secret-destroyed")
            else:
                body = payload(claimed["audience"], entry)
                outcome = await self._attempt(claimed["url"], signed_headers(secret, message_id, self.rt.clock.now(),
                                                                             body), body)  # fmt: skip
            now = self.rt.clock.now()
            if outcome.delivered:
                assert outcome.status_code is not None
                await store.record_delivered(conn, subscription_id, entry["seq"], message_id, outcome.status_code, now)
                return None
            failures = claimed["failures"] + 1
            pause = failures >= self.settings.max_failures
            await store.record_failed(conn, subscription_id, entry["seq"], message_id, status_code=outcome.status_code,
                                      error=outcome.error or "status", failures=failures, pause=pause,
                                      retry_at=now + backoff(failures, self.settings), now=now)  # fmt: skip
            # Ids, numbers and closed names only: the URL may name an office's host, the answer may hold anything.
            log.info("webhook %s: attempt %d of entry %d failed (%s)%s", subscription_id, failures, entry["seq"],
                     outcome.error, "; paused" if pause else "")  # fmt: skip
            return None

    async def _attempt(self, url: str, headers: dict[str, str], body: str) -> Outcome:
        try:
            await check_resolved(url, self.settings)
            response = await self._client.post(url, content=body.encode(), headers=headers)
        except RefusedAddress:
            return Outcome(False, None, "refused-address")
        except httpx.TimeoutException:
            return Outcome(False, None, "timeout")
        except (httpx.HTTPError, OSError):
            return Outcome(False, None, "connection")
        code = response.status_code
        if 200 <= code < 300:
            return Outcome(True, code, None)
        return Outcome(False, code, "redirect" if 300 <= code < 400 else "status")


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The workers run while the service does (inside the runtime's lifespan: its database exists by now)."""
    deliverer = Deliverer(app.state.runtime, WebhookSettings())
    app.state.webhooks = deliverer
    signal = getattr(app.state, "feed_signal", None)  # the feeds' LISTEN (services/feeds/api.py's lifespan)
    if signal is not None:
        signal.on_wake(deliverer.wake)
    await deliverer.start()
    try:
        yield
    finally:
        await deliverer.close()
