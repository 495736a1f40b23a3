"""The access-table contract, once, for every service: subclass :class:`AccessContract` per service.

Each service decides who may call what in one table (``services/<service>/access.py``); its access test writes
the expected matrix out again by hand, independently of the table, so a change of rules shows up as a reviewed
change of expectations. The shapes of the matrices stay each service's own (its callers, its objects); the
mechanics are shared here:

* every route of the service's API (its OpenAPI document: platform routes are left out of it) is an endpoint
  of the matrix, and every endpoint of the matrix a route: a route nobody wrote an expectation for is a route
  whose access nobody reviewed;
* the table is a ``harbour.access.AccessTable``: each entry one or more ``Grant``s (the shared type, so that
  ``harbour.access.may`` enforces it the same way in every service);
* the matrix exercises every entry of the access table, and nothing the table does not have;
* each caller gets, on each endpoint, the status the matrix declares: a number, or ``OK`` ("let through the
  access check": what the command then decides, a 2xx or a rule's 422, is not access); every refusal is an
  RFC 9457 problem.

A subclass sets ``table`` (the service's ``ACCESS``, a ``harbour.access.AccessTable``), gives ``cells()`` (a
classmethod: the matrix, one :class:`Cell` per endpoint and caller), ``matrix_routes()`` (the ``(METHOD, path
template)`` of its endpoints), ``matrix_entries()`` (the table keys its endpoints exercise) and ``call()``; and
the fixture ``access_env`` (what ``call`` needs: the running service and the objects the matrix acts on).
``also()`` adds a service's own checks on a cell (e.g. "a 404 reads exactly like an unknown id").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
from fastapi import FastAPI

from harbour.access import AccessTable, Grant

OK = "ok"  # let through the access check


@dataclass(frozen=True)
class Cell:
    endpoint: str  # the matrix's name of the endpoint
    caller: str  # the matrix's name of the caller
    expected: Any  # a status, OK, or a service's own class of answers (see ``verdict``)
    matrix: str = ""  # which of the service's matrices (e.g. "after a transfer"); "" for the main one

    @property
    def id(self) -> str:
        return f"{self.endpoint} by {self.caller}" + (f" {self.matrix}" if self.matrix else "")


class AccessContract:
    """Not collected itself (no ``Test`` prefix): each service's ``Test...Access`` subclass runs these tests."""

    table: ClassVar[AccessTable[Any]]
    route_prefix: ClassVar[str] = "/"  # the service's own routes in its OpenAPI document

    # ---- what a subclass gives --------------------------------------------------------------------------------

    @classmethod
    def cells(cls) -> list[Cell]:
        raise NotImplementedError

    def matrix_routes(self) -> set[tuple[str, str]]:
        raise NotImplementedError

    def matrix_entries(self) -> set[Any]:
        raise NotImplementedError

    def app(self, env: Any) -> FastAPI:
        raise NotImplementedError

    async def call(self, env: Any, cell: Cell) -> httpx.Response:
        raise NotImplementedError

    def admitted(self, status: int) -> bool:
        """What "let through the access check" may answer: the command's own outcome, never 401/403/404."""
        return status in {200, 201, 204, 409, 422}

    def verdict(self, cell: Cell, response: httpx.Response) -> Any:
        """The answer in the matrix's terms, compared with ``cell.expected``."""
        if cell.expected == OK:
            return OK if self.admitted(response.status_code) else response.status_code
        return response.status_code

    async def also(self, env: Any, cell: Cell, response: httpx.Response) -> None:
        """A service's own checks on a cell's answer, beyond its status."""

    # ---- the promise ------------------------------------------------------------------------------------------

    def pytest_generate_tests(self, metafunc: Any) -> None:
        if "cell" in metafunc.fixturenames:
            cells = self.cells()
            metafunc.parametrize("cell", cells, ids=[c.id for c in cells])

    def test_the_matrix_names_each_endpoint_and_caller_once(self):
        ids = [c.id for c in self.cells()]
        assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})

    def test_every_route_of_the_service_is_an_endpoint_of_the_matrix(self, access_env: Any):
        paths = self.app(access_env).openapi()["paths"]
        # A route open to anyone by design (harbour.access.public) has no caller to tell apart: the service's own
        # tests read it without a token, and the OpenAPI tests hold it to its declared public action.
        routes = {(m.upper(), p) for p, ops in paths.items() if p.startswith(self.route_prefix)
                  for m, op in ops.items() if not op.get("x-harbour-access", {}).get("public")}  # fmt: skip
        matrix = self.matrix_routes()
        assert routes - matrix == set(), "routes no expectation was written for"
        assert matrix - routes == set(), "endpoints of the matrix the API does not have"

    def test_every_entry_of_the_access_table_is_a_tuple_of_shared_grants(self):
        odd = {action: grants for action, grants in self.table.items()
               if not (isinstance(grants, tuple) and grants and all(isinstance(g, Grant) for g in grants))}  # fmt: skip
        assert odd == {}, "entries that are not one or more harbour.access.Grant"

    def test_the_matrix_exercises_every_entry_of_the_access_table(self):
        entries = self.matrix_entries()
        assert entries == set(self.table), (set(self.table) - entries, entries - set(self.table))
        assert {c.endpoint for c in self.cells()}, "an empty matrix"

    async def test_each_caller_gets_the_status_the_access_table_promises(self, access_env: Any, cell: Cell):
        response = await self.call(access_env, cell)
        assert self.verdict(cell, response) == cell.expected, response.text
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith("application/problem+json"), response.text
        await self.also(access_env, cell, response)
