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

from harbour import custody
from harbour.clock import today
from services.intake.access import ACCESS
from services.intake.app import DEFINITION
from tests.support.access_contract import AccessContract, Cell
from tests.support.harness import running_service
from tests.support.intake_flow import (
    OPS,
    OTHER_POLICE,
    PAG_ASA,
    PAYOKE,
    POLICE,
    PROSECUTOR,
    IntakeClient,
    clock,
    open_lead,
)

GUARDIANSHIP = "guardianship-service"
SURYA = "centre-surya"

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
    "guardianship service": (GUARDIANSHIP, "caseworker"),
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
    "establish minority": Endpoint(
        "case.minority",
        "POST",
        "/cases/{cid}/minority",
        "admitted",
        {"kind": "unaccompanied", "basis": "age-assessment"},
    ),
    # On a case the Guardianship Service was referred (a minor admitted): its age determination may disprove.
    "disprove minority": Endpoint(
        "case.minority", "POST", "/cases/{cid}/minority/disproved", "minor admitted", {"basis": "age-assessment"}
    ),
    "read history": Endpoint("case.history", "GET", "/cases/{cid}/history", "admitted"),
    # A tip from the public routed to Payoke (postcode in Antwerp): Payoke's lead.
    "list leads": Endpoint("lead.list", "GET", "/leads", "lead"),
    "read lead": Endpoint("lead.read", "GET", "/leads/{lid}", "lead"),
    "take up lead": Endpoint("lead.take-up", "POST", "/leads/{lid}/take-up", "lead", {}),
    "close lead": Endpoint("lead.close", "POST", "/leads/{lid}/closure", "lead", {"reason": "no-indication"}),
}

# Columns in the order of ACTORS:
#                   centre-cw centre-mgr other-cw other-mgr police other-police prosecutor ops guardianship no-token
EXPECTED: dict[str, tuple[int, ...]] = {
    "submit referral": (201, 201, 201, 201, 201, 201, 403, 403, 403, 401),
    "read referral": (200, 200, 404, 404, 200, 404, 403, 403, 403, 401),
    "screen": (200, 200, 404, 404, 403, 403, 403, 403, 403, 401),
    "decide": (200, 200, 404, 404, 403, 403, 403, 403, 403, 401),
    "interview": (200, 200, 404, 404, 403, 403, 403, 403, 403, 401),
    "give consent": (200, 200, 404, 404, 403, 403, 403, 403, 403, 401),
    "withdraw consent": (200, 200, 404, 404, 403, 403, 403, 403, 403, 401),
    "capture identity": (200, 200, 404, 404, 403, 403, 403, 403, 403, 401),
    "flag minor": (200, 200, 404, 404, 403, 403, 403, 403, 403, 401),
    "admit": (201, 201, 404, 404, 403, 403, 403, 403, 403, 401),
    "list cases": (200, 200, 200, 200, 403, 403, 403, 403, 403, 401),
    "read case": (200, 200, 404, 404, 403, 403, 403, 403, 403, 401),
    "read person": (200, 403, 404, 403, 403, 403, 403, 403, 403, 401),
    "erase person": (403, 200, 403, 404, 403, 403, 403, 403, 403, 401),
    "list reads": (403, 200, 403, 404, 403, 403, 403, 403, 403, 401),
    # The Guardianship Service knows only the cases referred to it: another case is 404 to it.
    "establish minority": (200, 200, 404, 404, 403, 403, 403, 403, 404, 401),
    "disprove minority": (200, 200, 404, 404, 403, 403, 403, 403, 200, 401),
    "read history": (200, 200, 404, 404, 403, 403, 403, 403, 403, 401),
    # Every centre lists its own leads (the other centre's list is empty: test_intake_leads.py).
    "list leads": (200, 200, 200, 200, 403, 403, 403, 403, 403, 401),
    "read lead": (200, 200, 404, 404, 403, 403, 403, 403, 403, 401),
    "take up lead": (201, 201, 404, 404, 403, 403, 403, 403, 403, 401),
    "close lead": (200, 200, 404, 404, 403, 403, 403, 403, 403, 401),
}

CASES = [(endpoint, actor, EXPECTED[endpoint][i]) for endpoint in ENDPOINTS for i, actor in enumerate(ACTORS)]


@pytest.fixture(scope="module")
async def intake(pg_server_url: str, broker) -> AsyncIterator[IntakeClient]:
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=broker.bootstrap,
                               clock=clock(), background=False) as service:  # fmt: skip
        yield IntakeClient(service)


async def at_stage(intake: IntakeClient, stage: str, *, transferred_to: str | None = None) -> dict[str, Any]:
    """A referral at ``stage``; "minor admitted": admitted, then established an unaccompanied minor (which refers
    the case to the Guardianship Service); ``transferred_to``: then handed over to that centre; "lead": a tip
    from the public routed to Payoke, made a lead as intake's consumer of TipSubmitted does."""
    if stage == "lead":
        return {"lead_id": await open_lead(intake)}
    view = await intake.referral_at("admitted" if stage == "minor admitted" else stage)
    if stage == "minor admitted":
        minor = await intake.command(f"/cases/{view['case_id']}/minority",
                                     {"kind": "unaccompanied", "basis": "declared-age"})  # fmt: skip
        view = {**view, **minor}
    if transferred_to is not None:
        # The hand-over exactly as intake's consumer of TransferAccepted records it (tests/integration/
        # test_intake_custody.py drives the real consumer): this module runs the service without consumers.
        runtime = intake.service.runtime
        async with runtime.store.transaction() as conn:
            await custody.hand_over(conn, view["case_id"], to_centre=transferred_to, seq=1, on=today(runtime.clock))
    return view


# ---- after a transfer Payoke -> PAG-ASA: the receiving centre acts, the former reads its period, others 404 ----

TRANSFER_ACTORS: dict[str, tuple[str, str]] = {
    "former caseworker": (PAYOKE, "caseworker"),
    "former manager": (PAYOKE, "manager"),
    "receiving caseworker": (PAG_ASA, "caseworker"),
    "receiving manager": (PAG_ASA, "manager"),
    "stranger caseworker": (SURYA, "caseworker"),
    "stranger manager": (SURYA, "manager"),
    "police referrer": (POLICE, "officer"),
}

TRANSFERRED: dict[str, Endpoint] = {
    "read referral": Endpoint("referral.read", "GET", "/referrals/{rid}", "admitted"),
    "give consent": Endpoint("referral.consent", "POST", "/referrals/{rid}/consents", "admitted",
                             {"scope": "contact-by-phone"}),
    "withdraw consent": Endpoint("referral.consent", "POST", "/referrals/{rid}/consents/{scope}/withdrawal",
                                 "admitted", {}),
    "capture identity": Endpoint("referral.identity", "POST", "/referrals/{rid}/identity", "admitted",
                                 {"languages": ["nl"]}),
    "flag minor": Endpoint("referral.minor", "POST", "/referrals/{rid}/minor", "admitted", {"reason": "declared-age"}),
    "list cases": ENDPOINTS["list cases"],
    "read case": ENDPOINTS["read case"],
    "read history": ENDPOINTS["read history"],
    "establish minority": ENDPOINTS["establish minority"],
    "disprove minority": Endpoint("case.minority", "POST", "/cases/{cid}/minority/disproved", "minor admitted",
                                  {"basis": "identity-document"}),
    "read person": Endpoint("person.read", "GET", "/persons/{pid}", "admitted",
                            headers={"Harbour-Purpose": "transfer access test"}),
    "erase person": Endpoint("person.erase", "POST", "/persons/{pid}/erasure", "admitted",
                             {"reason": "person-request"}),
    "list reads": Endpoint("person.reads", "GET", "/persons/{pid}/reads", "admitted"),
}  # fmt: skip

# Columns in the order of TRANSFER_ACTORS:
#                     former-cw former-mgr recv-cw recv-mgr stranger-cw stranger-mgr police-referrer
TRANSFER_EXPECTED: dict[str, tuple[int, ...]] = {
    "read referral": (403, 403, 200, 200, 404, 404, 200),  # the referrer still sees its referral's status
    "give consent": (403, 403, 200, 200, 404, 404, 403),
    "withdraw consent": (403, 403, 200, 200, 404, 404, 403),
    "capture identity": (403, 403, 200, 200, 404, 404, 403),
    "flag minor": (403, 403, 200, 200, 404, 404, 403),
    "list cases": (200, 200, 200, 200, 200, 200, 403),  # whose cases are listed: test_intake_custody.py
    "read case": (200, 200, 200, 200, 404, 404, 403),  # the former: as at the end of its period
    "read history": (200, 200, 200, 200, 404, 404, 403),
    "establish minority": (403, 403, 200, 200, 404, 404, 403),
    "disprove minority": (403, 403, 200, 200, 404, 404, 403),
    "read person": (403, 403, 200, 403, 404, 403, 403),
    "erase person": (403, 403, 403, 200, 403, 404, 403),
    "list reads": (403, 403, 403, 200, 403, 404, 403),
}

TRANSFER_CASES = [(e, a, TRANSFER_EXPECTED[e][i]) for e in TRANSFERRED for i, a in enumerate(TRANSFER_ACTORS)]


AFTER_A_TRANSFER = "after a transfer"


def _template(path: str) -> str:
    return (
        path.replace("{rid}", "{referral_id}")
        .replace("{cid}", "{case_id}")
        .replace("{pid}", "{person_id}")
        .replace("{lid}", "{lead_id}")
    )


class TestIntakeAccess(AccessContract):
    table = ACCESS

    @classmethod
    def cells(cls) -> list[Cell]:
        return [Cell(e, a, s) for e, a, s in CASES] + [Cell(e, a, s, AFTER_A_TRANSFER) for e, a, s in TRANSFER_CASES]

    def matrix_routes(self) -> set[tuple[str, str]]:
        # The OpenAPI document lists every route a client can call (platform routes are left out of it).
        return {(e.method, _template(e.path)) for e in [*ENDPOINTS.values(), *TRANSFERRED.values()]}

    def matrix_entries(self) -> set[str]:
        assert {e.action for e in TRANSFERRED.values()} <= {e.action for e in ENDPOINTS.values()}
        return {e.action for e in ENDPOINTS.values()}

    def app(self, env: IntakeClient) -> Any:
        return env.service.app

    async def call(self, env: IntakeClient, cell: Cell) -> Any:
        if cell.matrix == AFTER_A_TRANSFER:
            spec = TRANSFERRED[cell.endpoint]
            view = await at_stage(env, spec.stage or "admitted", transferred_to=PAG_ASA)
            ids = {"rid": view["referral_id"], "cid": view["case_id"], "pid": view["person_id"], "scope": "guidance"}
            headers = {**env.auth(*TRANSFER_ACTORS[cell.caller]), **(spec.headers or {})}
            return await env.client.request(spec.method, spec.path.format(**ids), json=spec.body, headers=headers)
        spec = ENDPOINTS[cell.endpoint]
        ids = {"scope": "guidance"}
        if spec.stage is not None:
            view = await at_stage(env, spec.stage)
            ids |= {
                "rid": view.get("referral_id") or "",
                "cid": view.get("case_id") or "",
                "pid": view.get("person_id") or "",
                "lid": view.get("lead_id") or "",
            }
        body = spec.body if spec.body is not None else (env.referral_body() if spec.method == "POST" else None)
        who = ACTORS[cell.caller]
        headers = {**(env.auth(*who) if who else {}), **(spec.headers or {})}
        self._sent = (ids, body, headers)  # for also(): the same request on an unknown id
        return await env.client.request(spec.method, spec.path.format(**ids), json=body, headers=headers)

    async def also(self, env: IntakeClient, cell: Cell, response: Any) -> None:
        if cell.matrix or cell.expected != 404:
            return
        # Not yours reads exactly like "does not exist": the same text as for an unknown id.
        spec = ENDPOINTS[cell.endpoint]
        ids, body, headers = self._sent
        unknown = spec.path.format(
            rid="no-such-id", cid="no-such-id", pid="no-such-id", lid="no-such-id", scope="guidance"
        )
        missing = await env.client.request(spec.method, unknown, json=body, headers=headers)
        assert missing.status_code == 404
        used = next(ids[k] for k in ("rid", "cid", "pid", "lid") if "{" + k + "}" in spec.path)
        assert missing.json()["detail"].replace("no-such-id", "X") == response.json()["detail"].replace(used, "X")


@pytest.fixture(scope="module")
def access_env(intake: IntakeClient) -> IntakeClient:
    return intake
