"""Inputs the database cannot hold are a 422 naming the field, on every route (harbour/http/inputs.py).

Each of these once reached PostgreSQL and came back a 500 (issue 15, found by schemathesis): a cursor past int64 on
intake, a NUL character in a shelter's name or address on housing, a NUL in tracks' caseload filter.
"""

from __future__ import annotations

import pytest

from services.housing.app import DEFINITION as HOUSING
from services.intake.app import DEFINITION as INTAKE
from services.tracks.app import DEFINITION as TRACKS
from tests.support.harness import RunningService, running_service

pytestmark = pytest.mark.integration
PAYOKE = "centre-payoke"


def refused(response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["field"] == field, problem
    assert [e["field"] for e in problem["errors"]] == [field]


@pytest.fixture
async def intake(pg_server_url, running_broker):
    async with running_service(INTAKE, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               background=False) as service:  # fmt: skip
        yield service


async def test_a_case_cursor_past_int64_is_a_422_naming_after(intake: RunningService):
    response = await intake.client.get("/cases?after=9223372036854775808", headers=intake.token(PAYOKE, "caseworker"))
    refused(response, "after")


async def test_a_case_cursor_at_int64_is_answered(intake: RunningService):
    response = await intake.client.get("/cases?after=9223372036854775807", headers=intake.token(PAYOKE, "caseworker"))
    assert response.status_code == 200, response.text


async def test_a_nul_in_a_query_parameter_is_refused_after_the_token_is_checked(intake: RunningService):
    assert (await intake.client.get("/cases?after=%00")).status_code == 401
    refused(await intake.client.get("/cases?after=%00", headers=intake.token(PAYOKE, "caseworker")), "after")


async def test_a_nul_in_a_path_parameter_is_a_422_naming_it(intake: RunningService):
    response = await intake.client.get("/referrals/a%00b", headers=intake.token(PAYOKE, "caseworker"))
    refused(response, "referral_id")


@pytest.mark.parametrize("field", ["name", "address"])
async def test_a_nul_in_a_shelters_name_or_address_is_a_422_naming_it(pg_server_url, running_broker, field):
    body = {"name": "House", "address": "Rue 1, 1000 Bruxelles", "beds": [{"bed_id": "b1", "constraints": []}]}
    body[field] = "Hou\x00se 1"
    async with running_service(HOUSING, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               background=False) as housing:  # fmt: skip
        response = await housing.client.post("/housing/shelters", json=body, headers=housing.token(PAYOKE, "housing"))
        refused(response, field)
        listed = await housing.client.get("/housing/occupancy", headers=housing.token(PAYOKE, "housing"))
        assert listed.status_code == 200 and listed.json()["items"] == [], listed.text


async def test_a_nul_deep_in_a_json_body_names_the_path_to_it(pg_server_url, running_broker):
    body = {"name": "House", "address": "Rue 1, 1000 Bruxelles", "beds": [{"bed_id": "b\x00", "constraints": []}]}
    async with running_service(HOUSING, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               background=False) as housing:  # fmt: skip
        response = await housing.client.post("/housing/shelters", json=body, headers=housing.token(PAYOKE, "housing"))
        refused(response, "beds.0.bed_id")


async def test_a_nul_in_the_caseload_filter_is_a_422_naming_caseworker_id(pg_server_url, running_broker):
    async with running_service(TRACKS, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               background=False) as tracks:  # fmt: skip
        response = await tracks.client.get("/caseload?caseworker_id=%00", headers=tracks.token(PAYOKE, "manager"))
        refused(response, "caseworker_id")
