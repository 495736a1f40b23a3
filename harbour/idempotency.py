"""``Idempotency-Key`` on every command: a retry of a committed command gets the original answer, status and body.

The promise to a client that lost an answer (a 503, a dropped connection, a timeout): send the same command
again with the same key, and it is applied at most once, and answered as it was the first time.

How it holds:

* Every command route of a service gets the ``Idempotency-Key`` header (:func:`install`, called by
  ``create_app`` for every router): documented in its OpenAPI, read before anything else, never refused there
  (a malformed key is a 422 from the command itself, after the caller's roles were checked).
* A command runs through ``harbour.commands.run_command``, around the service's own unit of work
  (:class:`Keyed`). In the command's transaction, before it decides anything, it takes a transaction-level
  advisory lock on (organisation, key): a retry racing the first request waits there until the first one
  committed or rolled back. Then it looks
  the key up: found, the stored answer is sent again (``Idempotent-Replayed: true``) and nothing is decided;
  otherwise the command decides and appends, its answer is rendered from what it decided, and the key row
  with that answer is inserted in the same transaction. The key's primary key is the backstop: two
  transactions can never both record one key.
* Nothing is written before the append, so the store's rule that a stream's later events come from later
  transactions is kept (an early write would take a transaction id before the stream lock: ``HB40R``).
* Keys are per calling organisation: two organisations choosing the same key never meet. The same key sent
  with another request (method, path or body) is a 422 naming the header, as the IETF draft advises.
* A command that fails (403, 404, 409, 422, 503) rolls back with its key: only committed commands are
  remembered, and a 503 can always be sent again.

The stored answer is the response's body as sent. Every command response of the platform is built of ids,
dates, states and closed lists, never of a person's data in clear (checked per response model, see the
README); the fingerprint leaves the body's personal fields out (their presence only): a hash of a name would
be personal data that outlives the person's erasure, names being easy to guess and hash again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.responses import Response

from harbour.db import Connection
from harbour.errors import RuleViolation

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
COMMAND_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces (draft-ietf-httpapi-idempotency-key)
# Advisory locks of one server share one 64-bit space: a seed of its own keeps keys apart from stream locks
# (seed 0) and case queues (seed 1).
_LOCK_SEED = 2

DESCRIPTION = (
    "A key of the client's choosing (1 to 255 printable characters) that makes this command safe to send again. "
    "A retry with the same key after the command committed gets the original answer (status and body, with "
    "Idempotent-Replayed: true) and changes nothing; a retry while the first is still running waits for it. "
    "Keys are per calling organisation. The same key with another method, path or body is a 422 naming this "
    "header. A 503 means the command was not committed, or was and will be answered so on a retry with the key."
)


@dataclass(frozen=True)
class CommandRequest:
    """What the command route's dependency saw of the request: its key and what identifies the request."""

    key: str | None
    method: str
    path: str
    status: int  # the route's status on success


_current: ContextVar[CommandRequest | None] = ContextVar("harbour_command_request", default=None)


async def command_request(
    request: Request, idempotency_key: Annotated[str | None, Header(alias=HEADER, description=DESCRIPTION)] = None
) -> AsyncIterator[None]:
    """The dependency every command route gets: remembers the key for the command (:class:`Keyed`), refuses nothing."""
    route = request.scope.get("route")
    status = getattr(route, "status_code", None) or 200
    token = _current.set(CommandRequest(idempotency_key, request.method, request.url.path, status))
    try:
        yield
    finally:
        try:
            _current.reset(token)
        except ValueError:  # exited in another context: nothing of this request can leak into it
            _current.set(None)


_DEPENDENCY = Depends(command_request)


def _is_command(route: APIRoute) -> bool:
    return bool((route.methods or set()) & COMMAND_METHODS)


def install(router: APIRouter) -> None:
    """Give every command route of ``router`` (and of the routers it includes) the ``Idempotency-Key`` header.

    Called by ``create_app`` on every router of a service before it is included, so no service can forget it.
    """
    for route in _routes(router):
        if _is_command(route) and not any(d.dependency is command_request for d in route.dependencies):
            route.dependencies.insert(0, _DEPENDENCY)


def _routes(router: APIRouter) -> Iterable[APIRoute]:
    for route in router.routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if isinstance(included, APIRouter):
            yield from _routes(included)


def checked_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not _KEY.fullmatch(value):
        raise RuleViolation(f"the {HEADER} header must be 1 to 255 printable characters", field=HEADER)
    return value


def fingerprint(body: BaseModel | None, *, personal: Collection[str] = ()) -> str:
    """A digest of the request body without its personal values: ``personal`` fields count by presence only.

    ``SecretStr`` fields dump as a mask in JSON mode, so they are left out of the digest by themselves.
    """
    if body is None:
        facts: dict[str, Any] = {}
    else:
        facts = body.model_dump(mode="json", exclude=set(personal))
        facts["__personal__"] = sorted(name for name in personal if getattr(body, name, None) not in (None, {}, []))
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Answer:
    """A command's answer: its body, and the ``Location`` of what it created when it created something."""

    body: BaseModel | None
    location: str | None = None


@dataclass(frozen=True)
class Reply:
    """The answer as sent, so that it can be stored and sent again byte for byte."""

    status: int
    body: str | None
    location: str | None

    def response(self, *, replayed: bool = False) -> Response:
        headers = {}
        if self.location is not None:
            headers["Location"] = self.location
        if replayed:
            headers[REPLAYED] = "true"
        if self.body is None:
            return Response(status_code=self.status, headers=headers)
        return Response(self.body, status_code=self.status, headers=headers, media_type="application/json")


def _reply(result: BaseModel | Answer | None, status: int) -> Reply:
    answer = result if isinstance(result, Answer) else Answer(result)
    body = None if answer.body is None else answer.body.model_dump_json()
    return Reply(status, body, answer.location)


class KeyTaken(Exception):
    """Another transaction recorded this key first (the lock makes it unreachable; the primary key backs it)."""


def _lock_name(org: str, key: str) -> str:
    return f"idempotency:{org}\x1f{key}"


async def _stored(conn: Connection, org: str, key: str, request: CommandRequest, print_: str) -> Reply | None:
    row = await conn.fetchrow(
        "SELECT method, path, fingerprint, status, body, location FROM idempotent_commands WHERE org = $1 AND key = $2",
        org, key,
    )  # fmt: skip
    if row is None:
        return None
    if (row["method"], row["path"], row["fingerprint"]) != (request.method, request.path, print_):
        raise RuleViolation(f"this {HEADER} was used for a different request", field=HEADER)
    return Reply(row["status"], row["body"], row["location"])


async def _record(conn: Connection, org: str, key: str, request: CommandRequest, print_: str, reply: Reply) -> None:
    recorded = await conn.fetchval(
        """INSERT INTO idempotent_commands (org, key, method, path, fingerprint, status, body, location)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (org, key) DO NOTHING RETURNING true""",
        org, key, request.method, request.path, print_, reply.status, reply.body, reply.location,
    )  # fmt: skip
    if not recorded:
        raise KeyTaken


Work = Callable[[Connection], Awaitable[BaseModel | Answer | None]]


class Keyed:
    """One command's ``Idempotency-Key``, across the attempts of its transaction (``harbour.commands``).

    ``org`` is the calling organisation (keys are its own); ``body`` and ``personal`` make the fingerprint
    (``print_`` overrides it). A malformed key is refused here, before anything runs.
    """

    def __init__(self, *, org: str, body: BaseModel | None = None, personal: Collection[str] = (),
                 print_: str | None = None) -> None:  # fmt: skip
        self.org = org
        self.request = _current.get() or CommandRequest(None, "", "", 200)
        self.key = checked_key(self.request.key)
        self.digest = print_ if print_ is not None else fingerprint(body, personal=personal)
        self.replayed = False

    async def attempt(self, conn: Connection, work: Work) -> Reply:
        """In the attempt's transaction: the stored answer if the key is known, else ``work``'s, recorded."""
        self.replayed = False
        key = self.key
        if key is not None:
            # Before anything is read: a request racing one with the same key waits here for its outcome.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, $2))", _lock_name(self.org, key),
                               _LOCK_SEED)  # fmt: skip
            stored = await _stored(conn, self.org, key, self.request, self.digest)
            if stored is not None:
                self.replayed = True
                return stored
        reply = _reply(await work(conn), self.request.status)
        if key is not None:
            await _record(conn, self.org, key, self.request, self.digest, reply)
        return reply

    def response(self, reply: Reply) -> Response:
        return reply.response(replayed=self.replayed)

    async def recorded_by_another(self, pool_tx: Callable[[], AbstractAsyncContextManager[Connection]]) -> Response:
        """After :class:`KeyTaken`: unreachable while every writer of keys takes the lock; if one did not, its
        answer is still the answer."""
        async with pool_tx() as conn:
            stored = await _stored(conn, self.org, self.key or "", self.request, self.digest)
        assert stored is not None
        return stored.response(replayed=True)
