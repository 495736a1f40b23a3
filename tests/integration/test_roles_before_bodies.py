"""Roles are checked before bodies, on every command route of every service: a caller whose kind of
organisation or role may not call a route gets 403 whatever body it sends, never a 422 that would tell it the
body's shape (which fields exist, which are required)."""

from __future__ import annotations

import re

import httpx
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from harbour.auth import issue_token, org_kind
from harbour.service import create_app
from services import registry
from tests.support.harness import fast_settings

COMMANDS = {"POST", "PUT", "PATCH", "DELETE"}
# Organisations no command route of any service admits: the national rapporteur reads reports, it does not act on
# cases; the guardianship service is told about minors, it records nothing in Harbour.
OUTSIDERS = [("myria", "analyst"), ("guardianship-service", "clerk")]
# Myria's analysts make the statistics service's releases: there, Myria in another role is the outsider.
OUTSIDERS_OF = {"statistics": [("myria", "operator"), ("guardianship-service", "clerk")]}
INVALID_BODIES = [{"h4_no_such_field": ["x"]}, [], "not an object"]


def _all_routes(app) -> list[tuple[str, BaseRoute]]:
    """(full path, route) of every route, those of included routers too (FastAPI includes them lazily)."""
    found: list[tuple[str, BaseRoute]] = []
    for route in app.routes:
        if hasattr(route, "effective_route_contexts"):
            found.extend((c.path, c.original_route) for c in route.effective_route_contexts())
        else:
            found.append((getattr(route, "path", ""), route))
    return found


def _public(route: APIRoute) -> bool:
    """A route open to anyone by design (harbour.access.public: the signals service's tip line) has no role to
    check: its body is checked for everyone alike, and the OpenAPI document says it is public."""
    calls = [d.dependency for d in route.dependencies] + [d.call for d in route.dependant.dependencies]
    return any(hasattr(call, "harbour_public") for call in calls)


def _command_routes(app) -> list[tuple[str, str]]:
    routes = []
    for path, route in _all_routes(app):
        if isinstance(route, APIRoute) and route.methods & COMMANDS and not _public(route):
            # Feeds' webhook commands admit every organisation for its own audience only: another audience's path is
            # where an outsider must be refused (403) before its body is looked at.
            path = path.replace("{audience}", "prosecution-antwerp")
            path = re.sub(r"\{[^}]+\}", "x-1", path)  # any id: the role check comes before any lookup
            routes.extend((method, path) for method in sorted(route.methods & COMMANDS))
    return routes


async def test_a_caller_without_the_role_gets_403_before_its_invalid_body_is_looked_at_on_every_command_route():
    settings = fast_settings()
    assert all(org_kind(org) for org, _ in OUTSIDERS)
    checked = 0
    for name in registry.available():
        # Not started: no database, no broker. A route that looked at anything before the caller's role would
        # fail here (500) instead of answering 403, and one that validated the body first would answer 422.
        app = create_app(registry.definition(name), settings=settings, background=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{name}") as client:
            routes = _command_routes(app)
            assert routes or name in {"feeds", "signals"}, name
            for method, path in routes:
                for org, role in OUTSIDERS_OF.get(name, OUTSIDERS):
                    headers = {"Authorization": f"Bearer {issue_token(org, role, 'outsider', settings=settings)}"}
                    for body in INVALID_BODIES:
                        response = await client.request(method, path, json=body, headers=headers)
                        assert response.status_code == 403, (name, method, path, org, body, response.text)
                        assert response.headers["content-type"] == "application/problem+json"
                        checked += 1
    assert checked > 50  # every service's commands were reached, not an empty loop
