"""The personal-data read audit, against the real PostgreSQL, and its purpose header."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from httpx import ASGITransport, AsyncClient

from harbour.audit import read_purpose, reads_of, record_read
from harbour.errors import RuleViolation


async def test_recorded_reads_are_listed_for_the_person_in_order_and_page_by_page(db_pool):
    person, other = uuid.uuid4(), uuid.uuid4()
    async with db_pool.acquire() as conn:
        for i in range(5):
            await record_read(
                conn,
                org="centre-payoke",
                role="caseworker",
                user=f"u{i}",
                person_id=person,
                what="identity",
                purpose=f"preparing hearing {i}",
            )
        await record_read(
            conn,
            org="centre-sürya",
            role="caseworker",
            user="x",
            person_id=other,
            what="identity.phone",
            purpose="call",
            at=datetime(2026, 1, 5, 9, tzinfo=UTC),
        )
        first = await reads_of(conn, person, limit=3)
        rest = await reads_of(conn, person, limit=3, after=first[-1].id)
        others = await reads_of(conn, other)
    assert [r.user for r in first + rest] == ["u0", "u1", "u2", "u3", "u4"]
    assert {r.person_id for r in first + rest} == {str(person)}
    assert first[0].org == "centre-payoke" and first[0].role == "caseworker" and first[0].what == "identity"
    assert first[0].purpose == "preparing hearing 0" and first[0].read_at.tzinfo is not None
    assert [(r.what, r.read_at) for r in others] == [("identity.phone", datetime(2026, 1, 5, 9, tzinfo=UTC))]


async def test_a_read_without_a_purpose_is_not_recorded(db_pool):
    async with db_pool.acquire() as conn:
        with pytest.raises(RuleViolation):
            await record_read(conn, org="o", role="r", user="u", person_id="p", what="identity", purpose="  ")


def _app() -> FastAPI:
    app = FastAPI()

    @app.exception_handler(RuleViolation)
    async def problem(request: Request, exc: RuleViolation) -> JSONResponse:
        return JSONResponse({"detail": exc.detail, "field": exc.field}, status_code=exc.status)

    @app.get("/person")
    async def person(purpose: str = Depends(read_purpose)) -> dict[str, str]:
        return {"purpose": purpose}

    return app


async def test_the_purpose_header_is_required_non_empty_and_at_most_200_characters():
    async with AsyncClient(transport=ASGITransport(app=_app()), base_url="http://harbour") as client:
        answer = await client.get("/person", headers={"Harbour-Purpose": " court date "})
        assert answer.json() == {"purpose": "court date"}
        for headers in ({}, {"Harbour-Purpose": ""}, {"Harbour-Purpose": "   "}, {"Harbour-Purpose": "x" * 201}):
            answer = await client.get("/person", headers=headers)
            assert answer.status_code == 422
            assert answer.json()["field"] == "Harbour-Purpose"
        assert (await client.get("/person", headers={"Harbour-Purpose": "x" * 200})).status_code == 200
