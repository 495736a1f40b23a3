"""The statistics service's access table as a matrix (tests/support/access_contract.py), on the real database."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from harbour.clock import ManualClock
from services.statistics.access import ACCESS
from services.statistics.app import DEFINITION
from tests.support.access_contract import OK, AccessContract, Cell
from tests.support.harness import RunningService, fast_settings, running_service

pytestmark = pytest.mark.integration

ROUTES = {
    "release.create": ("POST", "/releases"),
    "release.list": ("GET", "/releases"),
    "release.read": ("GET", "/releases/{release_id}"),
    "release.csv": ("GET", "/releases/{release_id}/tables/{table}.csv"),
    "release.report": ("GET", "/releases/{release_id}/report"),
    "operational.read": ("GET", "/centres/{centre}/operational"),
}
ACTION = {"release.csv": "release.read", "release.report": "release.read"}
CALLERS = {
    "anonymous": None,
    "myria-analyst": ("myria", "analyst"),
    "myria-operator": ("myria", "operator"),
    "payoke-manager": ("centre-payoke", "manager"),
    "payoke-housing": ("centre-payoke", "housing"),
    "surya-caseworker": ("centre-surya", "caseworker"),
    "police": ("police-federal", "officer"),
}
# Written out by hand: the unpublished release is a 404 to all but Myria's analysts; the public one anyone reads.
EXPECTED = {
    "release.create": {"myria-analyst": OK},
    "release.list": {"*": OK},
    "release.read": {"myria-analyst": OK},
    "release.csv": {"myria-analyst": OK},
    "release.report": {"myria-analyst": OK},
    "operational.read": {
        "payoke-manager": OK,
        "payoke-housing": 403,
        "surya-caseworker": 404,
        "myria-analyst": 403,
        "myria-operator": 403,
        "police": 403,
    },
}


def expected(endpoint: str, caller: str) -> Any:
    if caller == "anonymous":
        return 401
    rule = EXPECTED[endpoint]
    if caller in rule:
        return rule[caller]
    if "*" in rule:
        return rule["*"]
    if endpoint == "release.create":
        return 403
    return 404  # a release that is not public: as if it did not exist


@pytest.fixture(scope="module")
async def access_env(pg_server_url: str) -> AsyncIterator[tuple[RunningService, str]]:
    settings = fast_settings(statistics_fact_key=base64.b64encode(b"a" * 32).decode())
    clock = ManualClock(datetime(2026, 6, 1, tzinfo=UTC))
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap="127.0.0.1:9", background=False,
                               settings=settings, clock=clock) as svc:  # fmt: skip
        headers = {**svc.token("myria", "analyst"), "Idempotency-Key": uuid.uuid4().hex}
        made = await svc.client.post("/releases", json={"period": 2026}, headers=headers)
        assert made.status_code == 201, made.text
        yield svc, made.json()["release_id"]


class TestStatisticsAccess(AccessContract):
    table = ACCESS

    @classmethod
    def cells(cls) -> list[Cell]:
        return [Cell(endpoint, caller, expected(endpoint, caller)) for endpoint in ROUTES for caller in CALLERS]

    def matrix_routes(self) -> set[tuple[str, str]]:
        return set(ROUTES.values())

    def matrix_entries(self) -> set[str]:
        return {ACTION.get(e, e) for e in ROUTES}

    def app(self, env: Any) -> Any:
        return env[0].app

    async def call(self, env: Any, cell: Cell) -> Any:
        svc, release_id = env
        method, path = ROUTES[cell.endpoint]
        path = path.format(release_id=release_id, table="form-by-age-group", centre="centre-payoke")
        who = CALLERS[cell.caller]
        headers = {"Idempotency-Key": uuid.uuid4().hex} if method == "POST" else {}
        if who is not None:
            headers.update(svc.token(*who))
        body = {"period": 2026} if method == "POST" else None
        return await svc.client.request(method, path, json=body, headers=headers)
