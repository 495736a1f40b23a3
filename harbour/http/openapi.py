"""A service's OpenAPI document, made to say what the service answers (issue 15), installed by ``create_app``.

FastAPI's own document describes the happy path and its own idea of a ``422``. Everything said here is read from
the running definitions, never written by hand, so the document cannot drift from the service:

- the security scheme (a bearer JWT, ``harbour.auth``) on every operation that authenticates its caller;
- every error an operation can answer, as the RFC 9457 problem document ``harbour.http.problems`` writes, under
  ``application/problem+json``: ``400`` where a body is read (bytes that are no JSON text: FastAPI's answer),
  ``401`` (no valid token) and ``403`` (the access table) where an access check runs, ``404`` where a path names
  an object, ``409`` on commands (a stale ``expected_version``, a concurrent command), ``422`` everywhere
  (invalid input, a rule of the procedure, ``harbour.http.inputs``: always with ``field`` and ``errors[]``, the
  ``InvalidRequestProblem`` schema), and ``429`` and ``503`` with
  ``Retry-After`` everywhere (load shedding, ``harbour.http.shedding``; a lost database);
- the ``Harbour-Purpose`` header required where the read refuses without it (``harbour.audit.read_purpose``);
- integers (parameters and body fields) bounded to 64 bits, as the input guard enforces;
- who may call each operation, from the service's access table (``harbour.access.may`` marks its check):
  ``x-harbour-access`` and a sentence in the description.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from harbour.access import Grant
from harbour.audit import PURPOSE_HEADER, read_purpose
from harbour.auth import OrgKind, Role, authenticated
from harbour.http.inputs import INT64_MAX, INT64_MIN
from harbour.http.problems import MEDIA_TYPE, PROBLEM_TYPE_BASE

SECURITY_SCHEME = "bearerJWT"
BEARER = "a JWT (EdDSA or RS256) naming the caller's organisation (org), role and user (sub)"
PROBLEM = "Problem"
INVALID = "InvalidRequestProblem"
COMMAND_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RETRY_AFTER = {"description": "seconds to wait before sending the request again", "schema": {"type": "integer"}}
# What each status means on every operation that can answer it; an operation's own description wins.
ERRORS: dict[str, str] = {
    "400": "The body could not be read as JSON text at all (not UTF-8): nothing was done",
    "401": "No valid bearer token",
    "403": "The caller's kind of organisation or role may not do this (the access table), or not on this object",
    "404": "No such object, or not one the caller may see",
    "409": "The object changed meanwhile (a stale expected_version, or a concurrent command): re-read and retry",
    "422": "The request is not valid or breaks a rule of the procedure: detail, field and errors say which",
    "429": "This caller has as many requests in progress as it may: retry after Retry-After seconds",
    "503": "The service is saturated or its database unreachable: retry after Retry-After seconds",
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": PROBLEM,
    "description": "An RFC 9457 problem document: every error a Harbour service answers.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": f"a URI under {PROBLEM_TYPE_BASE} naming the kind of problem"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "the path of the request"},
        "field": {"type": "string", "description": "the field, parameter or header at fault"},
        "errors": {
            "type": "array",
            "description": "on an invalid request: each field at fault (never the value sent)",
            "items": {
                "type": "object",
                "required": ["field", "message", "code"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}, "code": {"type": "string"}},
            },
        },
    },
    # RFC 9457 extension members: a rule's name, the allowed values of a field.
    "additionalProperties": True,
}
# Every 422, whichever check refused (FastAPI's validation, the input guard, a cursor, a rule of the procedure,
# an implausible date, an unknown office id), names the field at fault and lists each in `errors[]`.
INVALID_SCHEMA: dict[str, Any] = {
    "title": INVALID,
    "description": "The problem document of a 422: the field at fault, and each field at fault in errors[] (a "
    "rule of the procedure names one, its code the rule's name where it has one).",
    "allOf": [
        {"$ref": f"#/components/schemas/{PROBLEM}"},
        {"type": "object", "required": ["field", "errors"],
         "properties": {"status": {"const": 422}, "errors": {"minItems": 1}}},
    ],
}  # fmt: skip


def install(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """Replace ``app.openapi`` by the document above, built once on first use like FastAPI's."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description,
                                   routes=app.routes)  # fmt: skip
            describe(document, [route for router in routers for route in _routes(router)])
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def describe(document: dict[str, Any], routes: Sequence[APIRoute]) -> None:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas[PROBLEM] = copy.deepcopy(PROBLEM_SCHEMA)  # each document its own: the walk below adds to it
    schemas[INVALID] = copy.deepcopy(INVALID_SCHEMA)
    schemas["Role"] = {"type": "string", "enum": [r.value for r in Role], "description": "a caller's role"}
    schemas["OrganisationKind"] = {"type": "string", "enum": [k.value for k in OrgKind],
                                   "description": "the kind of a caller's organisation"}  # fmt: skip
    components["securitySchemes"] = {SECURITY_SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                                       "description": BEARER}}  # fmt: skip
    for model in schemas.values():
        _bound_nested_integers(model)  # a body's integers too: the guard refuses any past int64
    for route in routes:
        for method in sorted(route.methods or ()):
            operation = document.get("paths", {}).get(route.path_format, {}).get(method.lower())
            if operation is not None:
                _describe_operation(operation, route, method)
    # FastAPI's own 422 schemas describe a body no Harbour service sends: gone once no operation refers to them.
    for unused in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{unused}"' not in repr(document).replace("'", '"'):
            schemas.pop(unused, None)


def _describe_operation(operation: dict[str, Any], route: APIRoute, method: str) -> None:
    calls = set(_calls(route))
    responses = operation.setdefault("responses", {})
    access = next((c.harbour_access for c in calls if hasattr(c, "harbour_access")), None)
    if authenticated in calls or access is not None:
        operation["security"] = [{SECURITY_SCHEME: []}]
        responses.setdefault("401", {})
        responses.setdefault("403", {})
    public = next((c.harbour_public for c in calls if hasattr(c, "harbour_public")), None)
    if public is not None:  # harbour.access.public: no token, stated as such (never a silent omission)
        operation["x-harbour-access"] = {"action": public, "public": True}
        sentence = f"**Access** (`{public}`): public, no token: anyone may call it."
        operation["description"] = f"{operation.get('description', '').rstrip()}\n\n{sentence}".lstrip()
    if access is not None:
        action, grants = access
        operation["x-harbour-access"] = {"action": str(action), "grants": [_grant(g) for g in grants]}
        sentence = f"**Access** (`{action}`): " + "; or ".join(_sentence(g) for g in grants) + "."
        operation["description"] = f"{operation.get('description', '').rstrip()}\n\n{sentence}".lstrip()
    if "requestBody" in operation:
        responses.setdefault("400", {})
    if route.param_convertors:
        responses.setdefault("404", {})
    if method in COMMAND_METHODS:
        responses.setdefault("409", {})
    for status in ("422", "429", "503"):
        responses.setdefault(status, {})
    for status, response in responses.items():
        if not status.isdigit() or int(status) < 400:
            continue
        response["description"] = response.get("description") or ERRORS.get(status, "An error")
        if status == "422" and response["description"] == "Validation Error":  # FastAPI's own
            response["description"] = ERRORS["422"]
        shape = INVALID if status == "422" else PROBLEM
        response["content"] = {MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{shape}"}}}
        if status in ("429", "503"):
            response.setdefault("headers", {})["Retry-After"] = RETRY_AFTER
    operation["responses"] = dict(sorted(responses.items()))
    for parameter in operation.get("parameters", []):
        if read_purpose in calls and parameter["in"] == "header" and parameter["name"] == PURPOSE_HEADER:
            parameter["required"] = True
            parameter["schema"] = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"}
        if parameter["in"] in ("query", "path"):
            _bound_integers(parameter.get("schema", {}))


def _bound_integers(schema: dict[str, Any]) -> None:
    for option in (schema, *schema.get("anyOf", ())):
        if option.get("type") == "integer":
            option.setdefault("minimum", INT64_MIN)
            option.setdefault("maximum", INT64_MAX)
            option.setdefault("format", "int64")


def _bound_nested_integers(schema: Any) -> None:
    if isinstance(schema, dict):
        if schema.get("type") == "integer":
            _bound_integers(schema)
        for value in schema.values():
            _bound_nested_integers(value)
    elif isinstance(schema, list):
        for item in schema:
            _bound_nested_integers(item)


def _grant(grant: Grant) -> dict[str, Any]:
    return {
        "kinds": sorted(k.value for k in grant.kinds),
        "roles": sorted(r.value for r in grant.roles) if grant.roles is not None else None,
        "scope": str(grant.scope),
        "former": grant.former.value,
    }


def _sentence(grant: Grant) -> str:
    kinds = ", ".join(sorted(k.value for k in grant.kinds))
    roles = "any role" if grant.roles is None else "role " + " or ".join(sorted(r.value for r in grant.roles))
    text = f"organisations of kind {kinds}, {roles}, scope: {grant.scope}"
    if grant.former.name != "NOT_APPLICABLE":
        text += f" (a former holder: {grant.former.value})"
    return text


def _calls(route: APIRoute) -> Iterator[Callable[..., Any]]:
    """Every dependency the route runs: its endpoint's, and those given to the route (idempotency, the guard)."""

    def walk(dependant: Dependant) -> Iterator[Callable[..., Any]]:
        for sub in dependant.dependencies:
            if sub.call is not None:
                yield sub.call
            yield from walk(sub)

    yield from walk(route.dependant)
    for depends in route.dependencies:
        if depends.dependency is not None:
            yield depends.dependency


def _routes(router: APIRouter) -> Iterator[APIRoute]:
    for route in router.routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if isinstance(included, APIRouter):
            yield from _routes(included)
