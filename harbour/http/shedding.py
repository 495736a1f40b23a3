"""Load shedding: overload is answered at once with 503/429, never queued without bound.

A pure ASGI middleware, installed for every service by ``harbour.service.create_app``, in front of everything
else the request would cost (authentication, body parsing, the database):

- **bounded in-flight work per service**: at most ``max_in_flight`` requests are being worked on; a request
  beyond them waits at most ``queue_wait_seconds`` (and at most ``max_queued`` wait at all), then gets a fast
  ``503`` problem (the service is saturated) with ``Retry-After``;
- **per caller**: one caller (the organisation of a verified token, or the client address when the request
  carries no valid token) holds at most ``max_in_flight_per_caller`` of those places, admitted or waiting;
  beyond that, a ``429`` (this caller is over its share), so a caller that floods never starves another;
- **a request deadline**: every statement the request runs on a pooled connection carries a PostgreSQL
  ``statement_timeout`` of the time left (``harbour.db.RequestDeadline``). A deadline that fires inside a
  transaction makes PostgreSQL cancel the statement, and the transaction rolls back: the answer is a ``503``
  with ``Retry-After`` and nothing was written. The server decides, so a command is either rolled back with
  an error or committed and answered, never half-done and never "cancelled" after its commit. Time spent
  before the answer started counts; a stream (server-sent events) that has started is not cut.

A place is held until the response *starts*: a long-lived stream does not hold one for its whole life.
``/health`` and ``/metrics`` are never shed: an operator must see a saturated service as saturated.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import asyncpg
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harbour import telemetry
from harbour.db import REQUEST_DEADLINE, RequestDeadline
from harbour.errors import HarbourError
from harbour.http.problems import MEDIA_TYPE, PROBLEM_TYPE_BASE
from harbour.settings import HarbourSettings

NEVER_SHED = frozenset({"/health", "/metrics"})
# Verified tokens are remembered this long (and at most this many): the bucket of a request costs a dict
# lookup, not a signature check. Only the bucket is taken from here; the route verifies the token again.
TOKEN_CACHE_SECONDS = 60.0
TOKEN_CACHE_SIZE = 4096
CALLER_DETAIL = "this caller has as many requests in progress as it may; nothing was done, retry later"
SATURATED_DETAIL = "the service has as much work in progress as it can carry; nothing was done, retry later"
DEADLINE_DETAIL = "the request's deadline passed before it was done; nothing was changed, retry later"


class Gate:
    """A counting semaphore whose waiters are served first come, first served, each for a bounded time."""

    def __init__(self, limit: int, max_queued: int) -> None:
        self.limit = limit
        self.max_queued = max_queued
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    async def enter(self, timeout: float) -> bool:
        """Take a place, waiting at most ``timeout`` seconds; False if none was free in time (or none may wait)."""
        if self.limit <= 0:  # unlimited
            self.in_flight += 1
            return True
        if self.in_flight < self.limit and not self.waiting:
            self.in_flight += 1
            return True
        if timeout <= 0 or self.waiting >= self.max_queued:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
            return True
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                return True  # the place was handed over just as the wait ran out: it is ours
            waiter.cancel()
            return False
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.leave()  # handed over, but the request is gone: pass the place on
            waiter.cancel()
            raise
        finally:
            try:
                self._waiters.remove(waiter)
            except ValueError:
                pass

    def leave(self) -> None:
        """Give a place back: to the longest waiter if there is one (the count stays), else to the pool."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.in_flight -= 1


class _TokenBuckets:
    """The organisation of a bearer token, from a small cache of tokens the service's verifier accepted."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[str, float]] = {}

    def org(self, scope: Scope, token: str) -> str | None:
        now = time.monotonic()
        hit = self._known.get(token)
        if hit is not None and hit[1] > now:
            return hit[0]
        verifier = getattr(scope["app"].state, "verifier", None) if "app" in scope else None
        if verifier is None:
            return None
        try:
            org: str = verifier.verify(token).org
        except HarbourError:
            return None  # not a valid token: the route answers 401; the request is bucketed by client
        if len(self._known) >= TOKEN_CACHE_SIZE:
            self._known.clear()  # rare, and cheap to refill: a bound, not an eviction policy
        self._known[token] = (org, now + TOKEN_CACHE_SECONDS)
        return org


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() or None if scheme.lower() == "bearer" else None
    return None


@dataclass
class _Place:
    """One request's claim: its caller's share, and (once admitted) a place in the gate; given back once."""

    bucket: str
    admitted: bool = False
    given_back: bool = False


class LoadShedding:
    def __init__(self, app: ASGIApp, *, service: str, settings: HarbourSettings) -> None:
        self.app = app
        self.service = service
        self.max_per_caller = settings.max_in_flight_per_caller
        self.queue_wait = settings.queue_wait_seconds
        self.deadline_seconds = settings.request_deadline_seconds
        self.retry_after = max(1, math.ceil(settings.shed_retry_after_seconds))
        self.gate = Gate(settings.max_in_flight, settings.max_queued)
        self.per_caller: dict[str, int] = {}
        self._tokens = _TokenBuckets()

    def bucket(self, scope: Scope) -> str:
        token = _bearer(scope)
        org = self._tokens.org(scope, token) if token else None
        if org is not None:
            return f"org:{org}"
        client = scope.get("client")
        return f"client:{client[0] if client else 'unknown'}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in NEVER_SHED:
            await self.app(scope, receive, send)
            return
        arrived = time.monotonic()
        place = _Place(self.bucket(scope))
        if self.max_per_caller > 0 and self.per_caller.get(place.bucket, 0) >= self.max_per_caller:
            await self._shed(send, 429, "caller", "Too many requests", CALLER_DETAIL)
            return
        self.per_caller[place.bucket] = self.per_caller.get(place.bucket, 0) + 1
        try:
            wait = self.queue_wait
            if self.deadline_seconds > 0:
                wait = min(wait, self.deadline_seconds)
            place.admitted = await self.gate.enter(wait)
            if not place.admitted:
                self._give_back(place)  # before answering: the 503 is no work in progress
                await self._shed(send, 503, "saturated", "The service is saturated", SATURATED_DETAIL)
                return
            await self._run(scope, receive, send, arrived, place)
        finally:
            self._give_back(place)

    async def _run(self, scope: Scope, receive: Receive, send: Send, arrived: float, place: _Place) -> None:
        deadline = RequestDeadline(arrived + self.deadline_seconds) if self.deadline_seconds > 0 else None
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                started = True
                if deadline is not None:
                    deadline.answered = True  # a stream that has begun runs without the deadline
                    if message["status"] == 503 and time.monotonic() >= deadline.at:
                        deadline.expired = True  # a statement cancelled by PostgreSQL, answered by the handlers
                headers = list(message.get("headers", ()))
                if message["status"] in (429, 503) and not any(k.lower() == b"retry-after" for k, _ in headers):
                    headers.append((b"retry-after", str(self.retry_after).encode()))
                    message = {**message, "headers": headers}
                # The place is given back as the answer begins, so the next request starts at once.
                self._give_back(place)
            await send(message)

        token = REQUEST_DEADLINE.set(deadline)
        try:
            await self.app(scope, receive, send_wrapper)
        except asyncpg.QueryCanceledError:
            # PostgreSQL cancelled a statement when the request's deadline ran out: its transaction rolled back.
            if started:
                raise
            self._give_back(place)
            await self._shed(send, 503, "deadline", "The request ran out of time", DEADLINE_DETAIL)
            return
        finally:
            REQUEST_DEADLINE.reset(token)
        if deadline is not None and deadline.expired:
            telemetry.SHED.labels(self.service, "deadline").inc()

    def _give_back(self, place: _Place) -> None:
        if place.given_back:
            return
        place.given_back = True
        left = self.per_caller.get(place.bucket, 0) - 1
        if left <= 0:
            self.per_caller.pop(place.bucket, None)
        else:
            self.per_caller[place.bucket] = left
        if place.admitted:
            self.gate.leave()

    async def _shed(self, send: Send, status: int, reason: str, title: str, detail: str) -> None:
        telemetry.SHED.labels(self.service, reason).inc()
        body: dict[str, Any] = {"type": f"{PROBLEM_TYPE_BASE}{'too-many-requests' if status == 429 else 'overloaded'}",
                                "title": title, "status": status, "detail": detail}  # fmt: skip
        payload = json.dumps(body).encode()
        await send({
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(payload)).encode()),
                        (b"retry-after", str(self.retry_after).encode())],
        })  # fmt: skip
        await send({"type": "http.response.body", "body": payload})
