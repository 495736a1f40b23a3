"""The access matrix of every housing endpoint, from the table in ``services.housing.access``.

For each endpoint: no token is 401; a non-centre organisation is 403; at the owning centre each role is let
through exactly when the table says so (403 otherwise); another centre is answered 404 for an object that
is not its own, and sees none of the owner's shelters or cases in a listing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from harbour import custody
from services.housing.access import ACCESS
from services.housing.app import DEFINITION
from tests.support.access_contract import OK, AccessContract, Cell
from tests.support.harness import RunningService, running_service
from tests.support.housing_env import PURPOSE, new_id, register_shelter, request_bed

pytestmark = pytest.mark.integration
OWNER, HOST, OTHER = "centre-payoke", "centre-pag-asa", "centre-surya"
ROLES = ("caseworker", "housing", "manager", "analyst")
LISTINGS = {"occupancy", "occupancy_history", "free_beds", "waiting_list", "register_shelter"}


@dataclass
class Env:
    housing: RunningService
    shelter: str
    housed: str  # a payoke case in independent housing
    sheltered: str  # a payoke case in a payoke shelter bed

    async def case(self, centre: str = OWNER) -> str:
        case_id = new_id("case")
        async with self.housing.runtime.pool.acquire() as conn:
            # housing's mirror of intake's CaseOpened (the real event is tested in test_housing_placements)
            await conn.execute("INSERT INTO case_registry VALUES ($1, $2, $3, $4)", case_id, new_id("person"),
                               centre, date(2026, 1, 5))  # fmt: skip
            await custody.admit(conn, case_id, centre, date(2026, 1, 5))  # who holds it (harbour.custody)
        return case_id

    async def cross_request(self) -> str:
        case_id = await self.case()
        r = await self.housing.client.post(
            f"/housing/cases/{case_id}/cross-centre-requests",
            json={"host_centre": HOST},
            headers=self.housing.token(OWNER, "manager"),
        )
        assert r.status_code == 201, r.text
        return r.json()["request_id"]


@pytest.fixture(scope="module")
async def env(pg_server_url, broker) -> AsyncIterator[Env]:
    if not broker.is_running:
        broker.start()
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=broker.bootstrap,
                               background=False) as housing:  # fmt: skip
        shelter = await register_shelter(housing, OWNER, {f"b{n}": [] for n in range(1, 6)})
        await register_shelter(housing, HOST, {"h1": [], "h2": [], "h3": [], "h4": []})
        world = Env(housing, shelter, "", "")
        world.housed, world.sheltered = await world.case(), await world.case()
        for case_id in (world.housed, world.sheltered):
            assert (await request_bed(housing, OWNER, case_id))["status"] == "assigned"
        worker = housing.token(OWNER, "caseworker")
        await housing.client.post(f"/housing/cases/{world.housed}/moves", json={"to": "independent",
                                  "address": "Somewhere 1"}, headers=worker)  # fmt: skip
        yield world


Target = Callable[[Env], Awaitable[tuple[str, dict[str, Any] | None, dict[str, str]]]]

# entry of the access table -> the route it guards (method, path template), written out by hand.
ROUTES: dict[str, tuple[str, str]] = {
    "register_shelter": ("POST", "/housing/shelters"),
    "shelter_address": ("GET", "/housing/shelters/{shelter_id}/address"),
    "bed_out_of_service": ("POST", "/housing/shelters/{shelter_id}/beds/{bed_id}/out-of-service"),
    "bed_back_in_service": ("POST", "/housing/shelters/{shelter_id}/beds/{bed_id}/in-service"),
    "add_bed": ("POST", "/housing/shelters/{shelter_id}/beds"),
    "request_placement": ("POST", "/housing/cases/{case_id}/placement-requests"),
    "request_cross_centre": ("POST", "/housing/cases/{case_id}/cross-centre-requests"),
    "accept_cross_centre": ("POST", "/housing/requests/{request_id}/accept"),
    "decline_cross_centre": ("POST", "/housing/requests/{request_id}/decline"),
    "withdraw_request": ("POST", "/housing/requests/{request_id}/withdraw"),
    "move": ("POST", "/housing/cases/{case_id}/moves"),
    "exit": ("POST", "/housing/cases/{case_id}/exit"),
    "occupancy": ("GET", "/housing/occupancy"),
    "occupancy_history": ("GET", "/housing/occupancy/history"),
    "free_beds": ("GET", "/housing/free-beds"),
    "waiting_list": ("GET", "/housing/waiting-list"),
    "case_history": ("GET", "/housing/cases/{case_id}/history"),
    "independent_address": ("GET", "/housing/cases/{case_id}/independent-address"),
}


def roles_of(name: str) -> frozenset[str]:
    """The roles the table's one grant of ``name`` admits (housing grants each action to centres only)."""
    (grant,) = ACCESS[name]
    assert grant.kinds == {"centre"} and grant.roles is not None
    return grant.roles


async def _static(path: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
    return path, body, headers or {}


TARGETS: dict[str, Target] = {
    "register_shelter": lambda e: _static(
        "/housing/shelters", {"name": "n", "address": "Hidden 2", "beds": [{"bed_id": "x"}]}
    ),
    "shelter_address": lambda e: _static(f"/housing/shelters/{e.shelter}/address", None, PURPOSE),
    "bed_out_of_service": lambda e: _static(f"/housing/shelters/{e.shelter}/beds/b5/out-of-service", {}),
    "bed_back_in_service": lambda e: _static(f"/housing/shelters/{e.shelter}/beds/b5/in-service", {}),
    "add_bed": lambda e: _static(f"/housing/shelters/{e.shelter}/beds", {"bed_id": "b1"}),  # taken: a 422
    "request_placement": lambda e: _case_target(e, "/placement-requests", {}),
    "request_cross_centre": lambda e: _case_target(e, "/cross-centre-requests", {"host_centre": HOST}),
    "accept_cross_centre": lambda e: _request_target(e, "accept", {}),
    "decline_cross_centre": lambda e: _request_target(e, "decline", {"reason": "no-capacity"}),
    "withdraw_request": lambda e: _request_target(e, "withdraw", {"reason": "lost-contact"}),
    "move": lambda e: _static(f"/housing/cases/{e.sheltered}/moves", {"to": "transitional"}),
    "exit": lambda e: _static(f"/housing/cases/{e.sheltered}/exit", {"reason": "moved-on"}),
    "occupancy": lambda e: _static("/housing/occupancy"),
    "occupancy_history": lambda e: _static("/housing/occupancy/history?since=2026-01-01&until=2026-01-10"),
    "free_beds": lambda e: _static("/housing/free-beds"),
    "waiting_list": lambda e: _static("/housing/waiting-list"),
    "case_history": lambda e: _static(f"/housing/cases/{e.sheltered}/history"),
    "independent_address": lambda e: _static(f"/housing/cases/{e.housed}/independent-address", None, PURPOSE),
}


async def _case_target(e: Env, suffix: str, body: dict[str, Any]) -> Any:
    return f"/housing/cases/{await e.case()}{suffix}", body, {}


async def _request_target(e: Env, action: str, body: dict[str, Any]) -> Any:
    return f"/housing/requests/{await e.cross_request()}/{action}", body, {}


def owner_of(name: str) -> str:
    return HOST if name in {"accept_cross_centre", "decline_cross_centre"} else OWNER


class TestHousingAccess(AccessContract):
    table = ACCESS
    route_prefix = "/housing"

    @classmethod
    def cells(cls) -> list[Cell]:
        out = []
        for name in ACCESS:
            out.append(Cell(name, "anonymous", 401))
            out.append(Cell(name, "police", 403))
            for role in ROLES:
                out.append(Cell(name, f"owner-{role}", OK if role in roles_of(name) else 403))
            out.append(Cell(name, "other-centre", "listing" if name in LISTINGS else 404))
        return out

    def matrix_routes(self) -> set[tuple[str, str]]:
        assert set(ROUTES) == set(ACCESS)
        return set(ROUTES.values())

    def matrix_entries(self) -> set[str]:
        return set(TARGETS)

    def app(self, env: Env) -> Any:
        return env.housing.app

    def admitted(self, status: int) -> bool:
        # Through the gate: the command may still break a rule (422), never a 401/403/404.
        return status in (200, 201, 204, 422)

    def verdict(self, cell: Cell, response: Any) -> Any:
        if cell.expected == "listing":
            return "listing" if response.status_code in (200, 201) else response.status_code
        return super().verdict(cell, response)

    async def call(self, env: Env, cell: Cell) -> Any:
        name = cell.endpoint
        path, body, extra = await TARGETS[name](env)
        headers = dict(extra)
        who = caller(name, cell.caller)
        if who is not None:
            headers.update(env.housing.token(*who))
        method = ROUTES[name][0]
        return await env.housing.client.request(method, path, json=body if method == "POST" else None,
                                                headers=headers)  # fmt: skip

    async def also(self, env: Env, cell: Cell, response: Any) -> None:
        if cell.expected == "listing":  # another centre's listing shows none of the owner's shelters or cases
            assert env.shelter not in response.text and env.sheltered not in response.text


def caller(name: str, label: str) -> tuple[str, str] | None:
    """No token; a non-centre organisation; the owning centre's staff by role; the other centre, with the first
    role the endpoint admits (so that only its centre, not its role, is refused)."""
    if label == "anonymous":
        return None
    if label == "police":
        return "police-federal", "officer"
    if label == "other-centre":
        return OTHER, sorted(roles_of(name))[0]
    return owner_of(name), label.removeprefix("owner-")


@pytest.fixture(scope="module")
def access_env(env: Env) -> Env:
    return env
