"""The access matrix: every intake endpoint × every kind of caller, with the status each must get.

The table is written out by hand, independently of ``services.intake.access.ACCESS``, so that a change to the
rules shows up here as a reviewed change of expectations. 403 = not for your kind or role (decided before any
look-up); 404 = not yours, answered exactly as if it did not exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from services.intake.access import ACCESS
from services.intake.app import DEFINITION
from tests.support.harness import running_service
from tests.support.intake_flow import OPS, OTHER_POLICE, PAG_ASA, PAYOKE, POLICE, PROSECUTOR, IntakeClient, clock

# Who calls: the centre the referral is addressed to (caseworker, manager), another centre (both roles), the
# police that referred, another police service, a prosecutor, the platform's operators, and nobody (no token).
ACTORS: dict[str, tuple[str, str] | None] = {
    "centre caseworker": (PAYOKE, "caseworker"),
    "centre manager": (PAYOKE, "manager"),
    "other centre caseworker": (PAG_ASA, "caseworker"),
    "other centre manager": (PAG_ASA, "manager"),
    "police referrer": (POLICE, "officer"),
    "other police": (OTHER_POLICE, "officer"),
    "prosecutor": (PROSECUTOR, "magistrate"),
    "ops": (OPS, "operator"),
    "no token": None,
}


@dataclass(frozen=True)
class Endpoint:
    action: str  # the key of the rule in ACCESS
    method: str
    path: str  # {rid}, {cid}, {pid} filled from a referral brought to ``stage``
    stage: str | None
    body: dict[str, Any] | None = None
    headers: dict[str, str] | None = None


ENDPOINTS: dict[str, Endpoint] = {
    "submit referral": Endpoint("referral.submit", "POST", "/referrals", None),
    "read referral": Endpoint("referral.read", "GET", "/referrals/{rid}", "submitted"),
    "screen": Endpoint("referral.screen", "POST", "/referrals/{rid}/screening", "submitted", {}),
    "decide": Endpoint("referral.decide", "POST", "/referrals/{rid}/decision", "screened", {"decision": "accept"}),
    "interview": Endpoint("referral.interview", "POST", "/referrals/{rid}/interviews", "accepted", {}),
    "give consent": Endpoint(
        "referral.consent", "POST", "/referrals/{rid}/consents", "accepted", {"scope": "guidance"}
    ),
    "withdraw consent": Endpoint(
        "referral.consent", "POST", "/referrals/{rid}/consents/{scope}/withdrawal", "consented", {}
    ),
    "capture identity": Endpoint(
        "referral.identity", "POST", "/referrals/{rid}/identity", "accepted", {"names": "Ilvaneth Quorrimaa"}
    ),
    "flag minor": Endpoint(
        "referral.minor", "POST", "/referrals/{rid}/minor", "submitted", {"reason": "referrer-report"}
    ),
    "admit": Endpoint("referral.admit", "POST", "/referrals/{rid}/admission", "consented", {"eu_citizen": False}),
    "list cases": Endpoint("case.list", "GET", "/cases", "admitted"),
    "read case": Endpoint("case.read", "GET", "/cases/{cid}", "admitted"),
    "read person": Endpoint(
        "person.read", "GET", "/persons/{pid}", "submitted", headers={"Harbour-Purpose": "access test"}
    ),
    "erase person": Endpoint(
        "person.erase", "POST", "/persons/{pid}/erasure", "submitted", {"reason": "person-request"}
    ),
    "list reads": Endpoint("person.reads", "GET", "/persons/{pid}/reads", "submitted"),
}

# Columns in the order of ACTORS:
#                   centre-cw centre-mgr other-cw other-mgr police other-police prosecutor ops no-token
EXPECTED: dict[str, tuple[int, ...]] = {
    "submit referral": (201, 201, 201, 201, 201, 201, 403, 403, 401),
    "read referral": (200, 200, 404, 404, 200, 404, 403, 403, 401),
    "screen": (200, 200, 404, 404, 403, 403, 403, 403, 401),
    "decide": (200, 200, 404, 404, 403, 403, 403, 403, 401),
    "interview": (200, 200, 404, 404, 403, 403, 403, 403, 401),
    "give consent": (200, 200, 404, 404, 403, 403, 403, 403, 401),
    "withdraw consent": (200, 200, 404, 404, 403, 403, 403, 403, 401),
    "capture identity": (200, 200, 404, 404, 403, 403, 403, 403, 401),
    "flag minor": (200, 200, 404, 404, 403, 403, 403, 403, 401),
    "admit": (201, 201, 404, 404, 403, 403, 403, 403, 401),
    "list cases": (200, 200, 200, 200, 403, 403, 403, 403, 401),
    "read case": (200, 200, 404, 404, 403, 403, 403, 403, 401),
    "read person": (200, 403, 404, 403, 403, 403, 403, 403, 401),
    "erase person": (403, 200, 403, 404, 403, 403, 403, 403, 401),
    "list reads": (403, 200, 403, 404, 403, 403, 403, 403, 401),
}

CASES = [(endpoint, actor, EXPECTED[endpoint][i]) for endpoint in ENDPOINTS for i, actor in enumerate(ACTORS)]


@pytest.fixture(scope="module")
async def intake(pg_server_url: str, broker) -> AsyncIterator[IntakeClient]:
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=broker.bootstrap,
                               clock=clock(), background=False) as service:  # fmt: skip
        yield IntakeClient(service)


async def test_the_matrix_covers_every_rule_and_every_route_of_the_api(intake):
    assert {e.action for e in ENDPOINTS.values()} == set(ACCESS)
    # The OpenAPI document lists every route a client can call (platform routes are left out of it).
    paths = intake.service.app.openapi()["paths"]
    routes = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    assert routes == {(e.method, e.path.replace("{rid}", "{referral_id}").replace("{cid}", "{case_id}")
                       .replace("{pid}", "{person_id}")) for e in ENDPOINTS.values()}  # fmt: skip


@pytest.mark.parametrize(("endpoint", "actor", "status"), CASES, ids=[f"{e} by {a}" for e, a, _ in CASES])
async def test_each_caller_gets_the_status_the_access_table_promises(intake, endpoint, actor, status):
    spec = ENDPOINTS[endpoint]
    ids: dict[str, str] = {"scope": "guidance"}
    if spec.stage is not None:
        view = await intake.referral_at(spec.stage)
        ids |= {"rid": view["referral_id"], "cid": view.get("case_id") or "", "pid": view.get("person_id") or ""}
    body = spec.body if spec.body is not None else (intake.referral_body() if spec.method == "POST" else None)
    who = ACTORS[actor]
    headers = {**(intake.auth(*who) if who else {}), **(spec.headers or {})}
    response = await intake.client.request(spec.method, spec.path.format(**ids), json=body, headers=headers)
    assert response.status_code == status, response.text
    if status >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
    if status == 404:
        # Not yours reads exactly like "does not exist": the same text as for an unknown id.
        unknown = spec.path.format(rid="no-such-id", cid="no-such-id", pid="no-such-id", scope="guidance")
        missing = await intake.client.request(spec.method, unknown, json=body, headers=headers)
        assert missing.status_code == 404
        used = next(ids[k] for k in ("rid", "cid", "pid") if "{" + k + "}" in spec.path)
        assert missing.json()["detail"].replace("no-such-id", "X") == response.json()["detail"].replace(used, "X")
