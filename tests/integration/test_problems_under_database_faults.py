"""A lost database is a 503 problem with Retry-After wherever in a request it is lost: in an endpoint, in a
dependency, in a middleware, in a streaming body before its first byte. A statement's own error stays a 500.

Real faults on a real database (terminated backends, a database refusing connections), on a small app with
the platform's problem handlers and shield (harbour.http.problems) and a pool made as services make theirs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.responses import StreamingResponse
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from harbour.db import create_pool
from harbour.http.problems import ConnectionFailureShield, install_problem_handlers
from tests.support.db_faults import connections_refused, terminate_backends

pytestmark = pytest.mark.integration


def _app(pool: asyncpg.Pool) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    async def one_row() -> int:
        async with pool.acquire() as conn:
            return int(await conn.fetchval("SELECT 1"))

    @app.get("/endpoint")
    async def endpoint() -> dict[str, int]:
        return {"one": await one_row()}

    @app.get("/dependency")
    async def dependency(one: int = Depends(one_row)) -> dict[str, int]:
        return {"one": one}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            # Fails before its first byte: headers must not have gone out as a 200.
            yield str(await one_row()).encode()

        return StreamingResponse(body(), media_type="text/plain")

    @app.get("/bug")
    async def bug() -> dict[str, int]:
        async with pool.acquire() as conn:
            # 55000, the class a refused connection also has: raised by a statement, it is a bug and a 500.
            await conn.execute("CREATE SEQUENCE IF NOT EXISTS never_used")
            return {"value": await conn.fetchval("SELECT currval('never_used')")}

    class TouchesTheDatabase:
        """A pure ASGI middleware (as the platform's are) that reads the database before the app runs."""

        def __init__(self, inner: ASGIApp) -> None:
            self.inner = inner

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["path"] == "/middleware":
                await one_row()
                await Response(status_code=200)(scope, receive, send)  # never reached while the database is away
                return
            await self.inner(scope, receive, send)

    app.add_middleware(TouchesTheDatabase)
    app.add_middleware(ConnectionFailureShield)
    return app


@pytest.fixture
async def pool(fresh_db: str) -> AsyncIterator[asyncpg.Pool]:
    # No idle connection kept: every request has to connect, as after a restart.
    created = await create_pool(fresh_db, min_size=0, max_size=2)
    yield created
    await created.close()


@pytest.fixture
async def client(pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(pool), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://faults") as c:
        yield c


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["type"].endswith("/dependency-unavailable")


@pytest.mark.parametrize("path", ["/endpoint", "/dependency", "/stream", "/middleware"])
async def test_a_database_refusing_connections_is_a_503_wherever_it_is_met(pg_server_url, fresh_db, client, path):
    database = fresh_db.rpartition("/")[2]
    async with connections_refused(pg_server_url, [database]):
        _assert_unavailable(await client.get(path))
    # The same pool connects again once the database is back.
    assert (await client.get("/endpoint")).json() == {"one": 1}


@pytest.mark.parametrize("path", ["/endpoint", "/dependency", "/stream"])
async def test_a_terminated_backend_is_a_503_and_the_next_request_succeeds(pg_server_url, fresh_db, pool, client,
                                                                             path):  # fmt: skip
    assert (await client.get(path)).status_code == 200  # a pooled connection now exists, then it is killed
    admin = await asyncpg.connect(pg_server_url)
    try:
        assert await terminate_backends(admin, [fresh_db.rpartition("/")[2]]) >= 1
    finally:
        await admin.close()
    answers = [await client.get(path) for _ in range(2)]
    # The pool notices the dead connection on the first use at the latest; then it reconnects.
    for answer in answers[:1]:
        assert answer.status_code in (200, 503)
        if answer.status_code == 503:
            _assert_unavailable(answer)
    assert answers[-1].status_code == 200


async def test_an_error_of_the_statement_itself_stays_a_500(client):
    response = await client.get("/bug")
    assert response.status_code == 500
    assert response.json()["type"].endswith("/internal")
