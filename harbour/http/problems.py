"""RFC 9457 problem documents for every error a service returns. Bad input is a 422 naming the field, never a 500."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from harbour.errors import HarbourError

log = logging.getLogger("harbour.http")
PROBLEM_TYPE_BASE = "https://harbour.example/problems/"
MEDIA_TYPE = "application/problem+json"


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


def _errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
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
        response = problem(
            exc.status, exc.title, exc.detail, slug=exc.type_slug, instance=request.url.path, field=exc.field
        )
        if headers:
            response.headers.update(headers)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(
            exc.status_code, str(exc.detail), str(exc.detail), slug=f"http-{exc.status_code}", instance=request.url.path
        )

    @app.exception_handler(asyncpg.PostgresConnectionError)
    @app.exception_handler(asyncpg.CannotConnectNowError)
    @app.exception_handler(asyncpg.TooManyConnectionsError)
    @app.exception_handler(ConnectionError)
    @app.exception_handler(OSError)
    async def dependency_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("dependency unavailable: %s", type(exc).__name__)
        return problem(
            503,
            "A dependency is unavailable",
            "the service's database is unreachable; retry later",
            slug="dependency-unavailable",
            instance=request.url.path,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Only the type is logged: exception texts can carry request values.
        log.error("unexpected %s on %s", type(exc).__name__, request.url.path)
        return problem(
            500, "Internal error", "an unexpected error occurred", slug="internal", instance=request.url.path
        )
