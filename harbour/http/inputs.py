"""What no request may carry into a service, refused once for every route: ``422`` naming the field, never a ``500``.

PostgreSQL's ``text`` and ``jsonb`` refuse the character U+0000, and its ``bigint`` stops at 64 bits: a string
with a NUL or an integer past int64 that reaches a query is a driver error, so a ``500``, whichever route it came
through and whatever model let it pass. Rather than every model and every parameter remembering both, the
service frame (``harbour.service.create_app``) installs :func:`install` on every route: a NUL anywhere in a path
or query parameter, a header or a JSON body (keys included), and an integer outside int64 in a query or path
parameter or a JSON body, are answered with the same ``422`` problem document as any other invalid input.

The guard runs behind the route's access check (``harbour.access.may``), so the token and the access table are
answered first (``401``, ``403`` before anything about the input, as ``harbour.access`` promises); it runs
before the route's own parameters are validated and before its endpoint, so nothing has been read or written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
NUL = "\x00"
NUL_MESSAGE = "must not contain the character U+0000"
INT64_MESSAGE = f"must be an integer from {INT64_MIN} to {INT64_MAX}"
# Only a body that could hold a NUL (JSON writes it as an escape) or a 19-digit integer is parsed a second time.
_SUSPECT_BODY = re.compile(rb"\\u0000|\d{19}")


def _refuse(location: str, field: Any, message: str, code: str) -> RequestValidationError:
    loc: tuple[Any, ...] = (location, *field) if isinstance(field, tuple) else (location, field)
    return RequestValidationError([{"loc": loc, "msg": message, "type": code}])


def _out_of_int64(value: str) -> bool:
    try:
        number = int(value.strip())
    except ValueError:
        return False  # not an integer at all: the parameter's own validation says so
    return not INT64_MIN <= number <= INT64_MAX


def _walk(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str, str]]:
    """(where, message, code) of each NUL or out-of-int64 integer in a parsed JSON document."""
    if isinstance(value, str):
        if NUL in value:
            yield at, NUL_MESSAGE, "string_nul"
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            yield at, INT64_MESSAGE, "int64_range"
    elif isinstance(value, dict):
        for key, item in value.items():
            if NUL in key:
                yield (*at, key.replace(NUL, "\\u0000")), NUL_MESSAGE, "string_nul"
            else:
                yield from _walk(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*at, index))


def _integer_params(route: APIRoute) -> tuple[set[str], set[str]]:
    """The names (aliases) of the route's query and path parameters that are integers, its dependencies' too."""
    query: set[str] = set()
    path: set[str] = set()

    def visit(dependant: Dependant) -> None:
        for field in dependant.query_params:
            if _is_int(field.field_info.annotation):
                query.add(field.alias)
        for field in dependant.path_params:
            if _is_int(field.field_info.annotation):
                path.add(field.alias)
        for sub in dependant.dependencies:
            visit(sub)

    visit(route.dependant)
    return query, path


def _is_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    return any(arg is int for arg in getattr(annotation, "__args__", ()))  # int | None


def access_check(dependant: Dependant) -> Any:
    """The route's access check (``harbour.access.may``, which marks it ``harbour_access``), or None."""
    for sub in dependant.dependencies:
        if sub.call is not None and hasattr(sub.call, "harbour_access"):
            return sub.call
        found = access_check(sub)
        if found is not None:
            return found
    return None


def guard_for(route: APIRoute) -> Any:
    int_query, int_path = _integer_params(route)
    check = access_check(route.dependant)

    async def guard(request: Request) -> None:
        for name, value in request.query_params.multi_items():
            if NUL in name or NUL in value:
                raise _refuse("query", name.replace(NUL, "\\u0000"), NUL_MESSAGE, "string_nul")
            if name in int_query and _out_of_int64(value):
                raise _refuse("query", name, INT64_MESSAGE, "int64_range")
        for name, value in request.path_params.items():
            if isinstance(value, str) and NUL in value:
                raise _refuse("path", name, NUL_MESSAGE, "string_nul")
            if name in int_path and isinstance(value, str) and _out_of_int64(value):
                raise _refuse("path", name, INT64_MESSAGE, "int64_range")
        for name, value in request.headers.items():
            if NUL in value:
                raise _refuse("header", name, NUL_MESSAGE, "string_nul")
        if request.method in {"GET", "HEAD", "DELETE", "OPTIONS"}:
            return
        body = await request.body()  # already read (and cached) by the route's handler: no second read
        if not body or not _SUSPECT_BODY.search(body):
            return
        try:
            document = json.loads(body)
        except ValueError:
            return  # not JSON: the route's own body validation answers for it
        found = next(_walk(document), None)
        if found is not None:
            raise _refuse("body", *found)

    if check is None:
        return guard

    # Behind the access check: FastAPI runs a route's dependency once per request (its cache), so the check
    # the endpoint asks for is the one that already ran here, and 401/403 come before anything about the input.
    async def guard_after_access(request: Request, caller: Any = Depends(check)) -> None:
        await guard(request)

    return guard_after_access


def install(router: APIRouter) -> None:
    """Give every route of ``router`` (and of the routers it includes) the guard, behind its access check.

    Called by ``create_app`` on every router of a service before it is included, like ``harbour.idempotency``.
    """
    for route in _routes(router):
        if not any(getattr(d.dependency, "harbour_input_guard", False) for d in route.dependencies):
            guard = guard_for(route)
            guard.harbour_input_guard = True
            route.dependencies.append(Depends(guard))


def _routes(router: APIRouter) -> Iterator[APIRoute]:
    for route in router.routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if isinstance(included, APIRouter):
            yield from _routes(included)
