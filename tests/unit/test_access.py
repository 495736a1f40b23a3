"""The shared access-table type and its gate (harbour/access.py): kind and role from the token alone, any one
grant admits, a 403 says which of the two failed, and it comes before the body is read."""

from __future__ import annotations

from enum import StrEnum

import httpx
import pytest
from fastapi import Depends, FastAPI
from pydantic import BaseModel, ConfigDict

from harbour.access import AccessTable, Former, Grant, grants_for, may
from harbour.auth import Caller, OrgKind, Role, authenticated
from harbour.errors import Forbidden
from harbour.http.problems import install_problem_handlers


class Scope(StrEnum):
    HOLDER = "the centre holding the case"
    OFFICE = "the office the file is assigned to"


CENTRE_STAFF = Grant(frozenset({OrgKind.CENTRE}), frozenset({Role.CASEWORKER, Role.MANAGER}), Scope.HOLDER,
                     Former.OWN_PERIOD)  # fmt: skip
MAGISTRATES = Grant(frozenset({OrgKind.PROSECUTION}), frozenset({Role.MAGISTRATE}), Scope.OFFICE)
ANY_POLICE = Grant(frozenset({OrgKind.POLICE}), None, Scope.HOLDER)

TABLE: AccessTable[str] = {
    "read": (CENTRE_STAFF, MAGISTRATES),
    "refer": (ANY_POLICE,),
    "nobody": (),
}

PAYOKE_WORKER = Caller(org="centre-payoke", role=Role.CASEWORKER, user="u-1")
PAYOKE_ANALYST = Caller(org="centre-payoke", role=Role.ANALYST, user="u-2")
MAGISTRATE = Caller(org="prosecution-antwerp", role=Role.MAGISTRATE, user="u-3")
POLICE_OFFICER = Caller(org="police-federal", role=Role.OFFICER, user="u-4")


def test_the_grants_that_admit_a_caller_are_those_of_its_kind_and_role() -> None:
    assert grants_for(TABLE, PAYOKE_WORKER, "read") == (CENTRE_STAFF,)
    assert grants_for(TABLE, MAGISTRATE, "read") == (MAGISTRATES,)


def test_a_grant_without_roles_admits_every_role_of_its_kinds() -> None:
    assert grants_for(TABLE, POLICE_OFFICER, "refer") == (ANY_POLICE,)
    assert ANY_POLICE.admits(Caller(org="police-federal", role=Role.ANALYST, user="u-5"))


def test_a_caller_of_a_kind_no_grant_names_is_refused_for_its_kind() -> None:
    with pytest.raises(Forbidden, match="organisations of kind police may not read"):
        grants_for(TABLE, POLICE_OFFICER, "read")


def test_a_caller_of_the_right_kind_in_another_role_is_refused_for_its_role() -> None:
    with pytest.raises(Forbidden, match="role analyst may not read"):
        grants_for(TABLE, PAYOKE_ANALYST, "read")


async def test_the_dependency_lets_an_admitted_caller_through_and_refuses_the_others() -> None:
    gate = may(TABLE, "read")
    assert await gate(MAGISTRATE) == MAGISTRATE
    with pytest.raises(Forbidden):
        await gate(POLICE_OFFICER)


def test_an_action_missing_from_the_table_fails_when_the_route_is_declared() -> None:
    with pytest.raises(KeyError):
        may(TABLE, "raed")


def test_an_action_granted_to_nobody_fails_when_the_route_is_declared() -> None:
    with pytest.raises(ValueError, match="to nobody"):
        may(TABLE, "nobody")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str


def _app(caller: Caller) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.dependency_overrides[authenticated] = lambda: caller  # the token is harbour.auth's, tested there

    @app.post("/referrals")
    async def refer(body: Body, who: Caller = Depends(may(TABLE, "refer"))) -> dict[str, str]:
        return {"by": who.org, "reason": body.reason}

    return app


@pytest.mark.parametrize("body", [{"reason": "signals"}, {"unexpected": 1}, {}])
async def test_a_refused_caller_gets_403_whatever_body_it_sent_so_it_never_learns_the_body_s_shape(body) -> None:
    transport = httpx.ASGITransport(app=_app(PAYOKE_WORKER))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/referrals", json=body)
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_an_admitted_caller_reaches_the_body_check_and_the_endpoint() -> None:
    transport = httpx.ASGITransport(app=_app(POLICE_OFFICER))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        bad = await client.post("/referrals", json={"unexpected": 1})
        good = await client.post("/referrals", json={"reason": "signals"})
    assert bad.status_code == 422, bad.text
    assert (good.status_code, good.json()) == (200, {"by": "police-federal", "reason": "signals"})
