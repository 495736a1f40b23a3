"""The signals service's access table as a matrix (tests/support/access_contract.py), on the real database.

The public routes (the pages, ``POST /tips``) take no token by design and are held to their declared public
action by the OpenAPI tests; what a tip said is for the centre it was routed to alone."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from harbour.audit import PURPOSE_HEADER
from services.signals.access import ACCESS
from services.signals.app import DEFINITION
from services.signals.commands import TipIn, submit
from tests.support.access_contract import OK, AccessContract, Cell
from tests.support.harness import RunningService, running_service

pytestmark = pytest.mark.integration

ROUTES = {
    "tip.read": ("GET", "/tips/{tip_id}"),
    "tip.erase": ("POST", "/tips/{tip_id}/erasure"),
    "tip.reads": ("GET", "/tips/{tip_id}/reads"),
}
CALLERS = {
    "anonymous": None,
    "payoke-caseworker": ("centre-payoke", "caseworker"),
    "payoke-manager": ("centre-payoke", "manager"),
    "payoke-housing": ("centre-payoke", "housing"),
    "surya-manager": ("centre-surya", "manager"),
    "pag-asa-caseworker": ("centre-pag-asa", "caseworker"),
    "police": ("police-federal", "officer"),
    "prosecutor": ("prosecution-antwerp", "magistrate"),
    "myria": ("myria", "analyst"),
    "guardianship": ("guardianship-service", "clerk"),
}
# Written out by hand. The tip was seen in Antwerp: Payoke's. Another centre gets 404 (as for an unknown tip);
# a role of Payoke's that is not casework gets 403; no other kind of organisation touches a tip (403).
EXPECTED = {
    "tip.read": {"payoke-caseworker": OK, "payoke-manager": OK},
    "tip.erase": {"payoke-manager": OK},
    "tip.reads": {"payoke-manager": OK},
}
OTHER_CENTRES = {"surya-manager", "pag-asa-caseworker"}


def expected(endpoint: str, caller: str) -> Any:
    if caller == "anonymous":
        return 401
    if caller in EXPECTED[endpoint]:
        return EXPECTED[endpoint][caller]
    if caller in OTHER_CENTRES and (endpoint == "tip.read" or caller == "surya-manager"):
        return 404  # a centre in the role the action needs, on a tip that is not its own
    return 403


@pytest.fixture(scope="module")
async def access_env(pg_server_url: str) -> AsyncIterator[tuple[RunningService, str]]:
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap="127.0.0.1:9",
                               background=False) as svc:  # fmt: skip
        tip_id = uuid.uuid4().hex
        told = TipIn(description="a van picks up workers at five every morning", postcode="2000")
        assert (await submit(svc.runtime, told, tip_id)).status_code < 300  # the command POST /tips runs
        yield svc, tip_id


class TestSignalsAccess(AccessContract):
    table = ACCESS
    route_prefix = "/tips/"

    @classmethod
    def cells(cls) -> list[Cell]:
        return [Cell(endpoint, caller, expected(endpoint, caller)) for endpoint in ROUTES for caller in CALLERS]

    def matrix_routes(self) -> set[tuple[str, str]]:
        return set(ROUTES.values())

    def matrix_entries(self) -> set[str]:
        return set(ROUTES)

    def app(self, env: Any) -> Any:
        return env[0].app

    async def _send(self, svc: RunningService, cell: Cell, tip_id: str) -> httpx.Response:
        method, path = ROUTES[cell.endpoint]
        headers = {"Idempotency-Key": uuid.uuid4().hex} if method == "POST" else {PURPOSE_HEADER: "follow-up of a lead"}
        who = CALLERS[cell.caller]
        if who is not None:
            headers.update(svc.token(*who))
        body = {"reason": "unfounded"} if method == "POST" else None
        return await svc.client.request(method, path.format(tip_id=tip_id), json=body, headers=headers)

    async def call(self, env: Any, cell: Cell) -> httpx.Response:
        svc, tip_id = env
        return await self._send(svc, cell, tip_id)

    async def also(self, env: Any, cell: Cell, response: httpx.Response) -> None:
        if cell.expected == 404:  # another centre's tip reads exactly like one that does not exist
            svc, _ = env
            unknown = await self._send(svc, cell, "no-such-tip")
            assert unknown.status_code == 404
            assert response.json()["detail"].replace(env[1], "ID") == unknown.json()["detail"].replace(
                "no-such-tip", "ID"
            )
