"""RFC 9457 problem documents for every error a service returns. Bad input is a 422 naming the field, never a 500;
a lost database is a 503 with ``Retry-After``, wherever in the request it is lost, never a 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harbour.errors import HarbourError

log = logging.getLogger("harbour.http")
PROBLEM_TYPE_BASE = "https://harbour.example/problems/"
MEDIA_TYPE = "application/problem+json"
# How long a client should wait before sending again a command answered 503: long enough for a pool to
# reconnect after a failover, short enough that a 15 s outage costs a client a handful of tries.
RETRY_AFTER_SECONDS = 1


class DatabaseUnavailable(ConnectionError):
    """A connection to the service's database could not be made (refused, not accepting, too many clients).

    Raised by the pool's ``connect`` (``harbour.db.create_pool``) whatever the server answered: on connecting,
    even ``ObjectNotInPrerequisiteStateError`` ("database is not currently accepting connections") means the
    database is away, while the same class raised by a query would be a bug, and a 500. A ``ConnectionError``
    (an ``OSError``), so that every loop that already waits out a lost database (timers, relay, consumers)
    waits this one out too.
    """


# Failures of the connection, not of the statement: the database (or the way to it) is away, and the same
# request may succeed once it is back. A command cut off by one of them may or may not have committed; its
# Idempotency-Key makes sending it again safe.
CONNECTION_FAILURES: tuple[type[Exception], ...] = (
    DatabaseUnavailable,
    asyncpg.PostgresConnectionError,  # class 08: connection does not exist, failure, rejection, protocol
    asyncpg.OperatorInterventionError,  # class 57: admin/crash shutdown, cannot connect now, cancelled
    asyncpg.InsufficientResourcesError,  # class 53: too many connections, out of memory, disk full
    asyncpg.InterfaceError,  # the client side: connection closed under an operation, pool closing
    asyncpg.InternalClientError,  # the protocol lost its connection mid-message
    ConnectionError,
    TimeoutError,  # a pool acquire or a statement that did not finish in time (builtin, also OSError)
    OSError,  # refused, reset, unreachable, name resolution
)


def connection_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it, or every exception of a group) is a lost or refused connection."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, BaseExceptionGroup):
            return all(connection_failure(e) for e in current.exceptions)
        if isinstance(current, CONNECTION_FAILURES):
            return True
        current = current.__cause__ or current.__context__
    return False


def failure_name(exc: BaseException) -> str:
    """The type of a connection failure for the log, with what the server said on connecting (never a text)."""
    if isinstance(exc, DatabaseUnavailable) and exc.args:
        return f"DatabaseUnavailable({exc.args[0]})"
    return type(exc).__name__


def unavailable_body(instance: str | None) -> dict[str, Any]:
    body = {
        "type": PROBLEM_TYPE_BASE + "dependency-unavailable",
        "title": "A dependency is unavailable",
        "status": 503,
        "detail": "the service's database is unreachable; a command may or may not have been applied: send it "
        "again with the same Idempotency-Key after Retry-After seconds",
    }
    if instance:
        body["instance"] = instance
    return body


def unavailable(request: Request | None, exc: BaseException) -> JSONResponse:
    # Only the type: an exception's text can carry a query's values.
    log.warning("dependency unavailable: %s", failure_name(exc))
    response = JSONResponse(unavailable_body(request.url.path if request else None), status_code=503,
                            media_type=MEDIA_TYPE)  # fmt: skip
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class ConnectionFailureShield:
    """ASGI middleware, outermost: a lost database anywhere under it is a 503 problem with ``Retry-After``.

    The exception handlers answer for errors raised by endpoints and dependencies; this catches what escapes
    them: a failure raised in another middleware, in an exception group (task groups), or in a streaming
    response's body. The response's start is held back until its first body part, so a stream that fails before
    sending anything is still answered 503; one that fails later can only be cut off (the client sees an
    incomplete response and retries), never finished as if complete.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal held, started
            if message["type"] == "http.response.start":
                held = message
                return
            if held is not None:
                started = True
                start, held = held, None
                await send(start)
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        except Exception as exc:
            if started or not connection_failure(exc):
                raise
            log.warning("dependency unavailable: %s", failure_name(exc))
            body = json.dumps({**unavailable_body(scope.get("path"))}).encode()
            await send({"type": "http.response.start", "status": 503, "headers": [
                (b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(RETRY_AFTER_SECONDS).encode())]})  # fmt: skip
            await send({"type": "http.response.body", "body": body})
            return
        if held is not None:  # a start without any body message (never sent by Starlette; kept for safety)
            await send(held)


def problem(
    status: int, title: str, detail: str, *, slug: str, instance: str | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {"type": PROBLEM_TYPE_BASE + slug, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "person", "date_of_birth") -> "person.date_of_birth"; ("header", "harbour-purpose") stays named.
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path"}:
        parts = parts[1:]
    elif parts and parts[0] == "header":
        parts = parts[1:]
    return ".".join(parts) or "body"


def _errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    # Only the location and the reason: echoing the input back could echo personal data into logs and proxies.
    return [
        {"field": _field(e.get("loc", ())), "message": str(e.get("msg", "invalid")), "code": str(e.get("type"))}
        for e in errors
    ]


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    @app.exception_handler(ValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError | ValidationError) -> JSONResponse:
        # A request body FastAPI rejected, or a model an endpoint built from it: both name the field at fault.
        errors = _errors(list(exc.errors()))
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        return problem(
            422,
            "The request is not valid",
            f"{first['field']}: {first['message']}",
            slug="invalid-request",
            instance=request.url.path,
            field=first["field"],
            errors=errors,
        )

    @app.exception_handler(HarbourError)
    async def harbour_error(request: Request, exc: HarbourError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        field, extra = exc.field, dict[str, Any](exc.extra)
        if exc.status == 422:
            # A rule of the procedure refused like an invalid request: one shape for every 422, so a client reads
            # `field` and `errors[]` whichever check refused (the rule's name, where it has one, is the code).
            field = field or "body"
            extra["errors"] = [{"field": field, "message": exc.detail, "code": str(exc.extra.get("rule") or
                                                                                   exc.type_slug)}]  # fmt: skip
        response = problem(
            exc.status,
            exc.title,
            exc.detail,
            slug=exc.type_slug,
            instance=request.url.path,
            field=field,
            **extra,
        )
        if headers:
            response.headers.update(headers)
        if exc.status == 503:
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(
            exc.status_code, str(exc.detail), str(exc.detail), slug=f"http-{exc.status_code}", instance=request.url.path
        )

    async def dependency_down(request: Request, exc: Exception) -> JSONResponse:
        return unavailable(request, exc)

    for failure in CONNECTION_FAILURES:
        app.add_exception_handler(failure, dependency_down)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Reached for what escaped every other handler (a middleware's error, an exception group): a lost
        # connection among them is still a 503, whatever wrapped it.
        if connection_failure(exc):
            return unavailable(request, exc)
        # Only the type is logged: exception texts can carry request values.
        log.error("unexpected %s on %s", type(exc).__name__, request.url.path)
        return problem(
            500, "Internal error", "an unexpected error occurred", slug="internal", instance=request.url.path
        )
