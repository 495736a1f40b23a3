"""Each service's OpenAPI document says what the service answers (harbour/http/openapi.py, issue 15).

What these pin down is what an integrator codes against without calling us: the token, the errors and their
shape, the headers that must be sent, the closed lists, and who may call what, read from the access tables.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

import jsonschema
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from harbour.errors import RuleViolation
from harbour.http.problems import MEDIA_TYPE, install_problem_handlers
from harbour.service import create_app
from services.feeds.domain import audiences
from services.registry import available, definition

ERRORS_EVERYWHERE = {"422", "429", "503"}


@functools.cache
def document(name: str) -> dict[str, Any]:
    return create_app(definition(name), background=False).openapi()


def operations(name: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in document(name)["paths"].items() for method, op in ops.items()]


ALL = [(name, method, path, op) for name in available() for method, path, op in operations(name)]
IDS = [f"{name} {method} {path}" for name, method, path, _ in ALL]


def test_every_service_declares_the_bearer_jwt_security_scheme():
    for name in available():
        schemes = document(name)["components"]["securitySchemes"]
        assert schemes == {"bearerJWT": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                         "description": schemes["bearerJWT"]["description"]}}  # fmt: skip


@pytest.mark.parametrize(("name", "method", "path", "op"), ALL, ids=IDS)
def test_every_operation_takes_the_token_and_documents_each_error_as_a_problem_document(name, method, path, op):
    errors = {status for status in op["responses"] if int(status) >= 400}
    if op.get("x-harbour-access", {}).get("public"):
        # The documented exception (harbour.access.public): the signals service's public pages and tip line, and
        # the statistics' reads of public releases under /public/, which ask a member of the public for no token
        # (a token would say who they are). No security, no 401/403.
        assert name == "signals" or (name == "statistics" and method == "GET" and path.startswith("/public/"))
        assert "security" not in op and not {"401", "403"} & errors
        assert "public, no token" in op["description"]
    else:
        assert op["security"] == [{"bearerJWT": []}]
        assert {"401", "403"} <= errors
    assert ERRORS_EVERYWHERE <= errors
    if "{" in path:
        assert "404" in errors
    if method in {"POST", "PUT", "PATCH", "DELETE"}:
        assert "409" in errors
    if "requestBody" in op:
        assert "400" in errors
    for status in errors:
        shape = "InvalidRequestProblem" if status == "422" else "Problem"
        assert op["responses"][status]["content"] == {MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{shape}"}}}
    for status in ("429", "503"):
        assert "Retry-After" in op["responses"][status]["headers"]


def test_fastapis_own_validation_error_schema_is_nowhere_in_any_document():
    for name in available():
        text = repr(document(name))
        assert "HTTPValidationError" not in text and "'ValidationError'" not in text, name


def test_the_problem_schema_admits_the_problems_services_send_and_refuses_a_bare_error():
    problem = document("intake")["components"]["schemas"]["Problem"]
    invalid = {"type": "https://harbour.example/problems/invalid-request", "title": "The request is not valid",
               "status": 422, "detail": "after: must be ...", "instance": "/cases", "field": "after",
               "errors": [{"field": "after", "message": "must be ...", "code": "int64_range"}]}  # fmt: skip
    rule = {"type": "https://harbour.example/problems/rule-violation", "title": "t", "status": 422, "detail": "d",
            "field": "on", "rule": "not-in-the-future"}  # fmt: skip
    jsonschema.validate(invalid, problem)
    jsonschema.validate(rule, problem)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"detail": [{"loc": ["query", "after"], "msg": "bad"}]}, problem)


def _invalid_request_schema(name: str) -> dict[str, Any]:
    # The 422 schema refers to the Problem schema: resolved within the service's own document.
    schemas = document(name)["components"]["schemas"]
    return {**schemas["InvalidRequestProblem"], "components": {"schemas": schemas}}


def test_every_422_is_documented_with_the_field_at_fault_and_errors():
    invalid = _invalid_request_schema("legal")
    jsonschema.validate({"type": "https://harbour.example/problems/invalid-request", "title": "t", "status": 422,
                         "detail": "d", "field": "after", "errors": [{"field": "after", "message": "m",
                                                                      "code": "value_error"}]}, invalid)  # fmt: skip
    for bare in ({"type": "t", "title": "t", "status": 422, "detail": "d", "field": "on"},  # no errors[]
                 {"type": "t", "title": "t", "status": 422, "detail": "d", "field": "on", "errors": []},
                 {"type": "t", "title": "t", "status": 404, "detail": "d", "field": "on",
                  "errors": [{"field": "on", "message": "m", "code": "c"}]}):  # fmt: skip
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bare, invalid)


async def test_a_rule_of_the_procedure_refused_as_422_names_its_field_in_errors_like_an_invalid_request():
    # The handler every service installs, on a route raising the domain's RuleViolation, with and without a
    # field and a rule: the answer validates against the documented 422 schema.
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/dated")
    async def dated() -> None:
        raise RuleViolation("the day is in the future", field="on", rule="not-in-the-future")

    @app.get("/whole")
    async def whole() -> None:
        raise RuleViolation("only a submitted referral can be declined")

    invalid = _invalid_request_schema("intake")
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        dated_answer, whole_answer = (await client.get("/dated")), (await client.get("/whole"))
    for response in (dated_answer, whole_answer):
        assert response.status_code == 422 and response.headers["content-type"] == MEDIA_TYPE
        jsonschema.validate(response.json(), invalid)
    assert dated_answer.json()["errors"] == [{"field": "on", "message": "the day is in the future",
                                              "code": "not-in-the-future"}]  # fmt: skip
    assert dated_answer.json()["rule"] == "not-in-the-future" and dated_answer.json()["field"] == "on"
    assert whole_answer.json()["errors"] == [{"field": "body", "message": "only a submitted referral can be declined",
                                              "code": "rule-violation"}]  # fmt: skip


def test_no_read_declares_a_409_it_cannot_answer():
    reads = [(name, path) for name, method, path, op in ALL if method == "GET" and "409" in op["responses"]]
    assert reads == []


@pytest.mark.parametrize(("name", "method", "path", "op"), [a for a in ALL if "x-harbour-access" in a[3]],
                         ids=[i for i, a in zip(IDS, ALL, strict=True) if "x-harbour-access" in a[3]])  # fmt: skip
def test_each_operations_access_is_its_tables_entry(name, method, path, op):
    access = op["x-harbour-access"]
    if access.get("public"):  # harbour.access.public: the service names its public actions instead of a table
        assert access["action"] in importlib.import_module(f"services.{name}.access").PUBLIC_ACTIONS
        assert f"**Access** (`{access['action']}`): public" in op["description"]
        return
    table = importlib.import_module(f"services.{name}.access").ACCESS
    grants = table[access["action"]]
    assert access["grants"] == [
        {"kinds": sorted(k.value for k in g.kinds), "roles": sorted(r.value for r in g.roles) if g.roles else None,
         "scope": str(g.scope), "former": g.former.value}
        for g in grants
    ]  # fmt: skip
    assert f"**Access** (`{access['action']}`)" in op["description"]


def test_every_operation_states_its_access_from_the_table():
    missing = [(name, method, path) for name, method, path, op in ALL if "x-harbour-access" not in op]
    assert missing == []
    deadlines = document("legal")["paths"]["/centres/{centre}/deadlines"]["get"]["x-harbour-access"]
    assert deadlines["action"] == "read-deadlines"
    assert deadlines["grants"] == [{"kinds": ["centre"], "roles": ["caseworker", "manager"],
                                    "scope": deadlines["grants"][0]["scope"], "former": "-"}]  # fmt: skip


def test_a_transfer_says_it_needs_a_manager():
    op = document("tracks")["paths"]["/tracks/{case_id}/transfer"]["post"]
    assert op["x-harbour-access"]["grants"][0]["roles"] == ["manager"]
    assert "role manager" in op["description"]


def test_the_purpose_header_is_required_on_the_reads_that_refuse_without_it():
    required = {(name, method, path) for name, method, path, op in ALL for p in op.get("parameters", [])
                if p["name"] == "Harbour-Purpose" and p.get("required")}  # fmt: skip
    optional = {(name, method, path) for name, method, path, op in ALL for p in op.get("parameters", [])
                if p["name"] == "Harbour-Purpose" and not p.get("required")}  # fmt: skip
    assert optional == set()
    assert required == {
        ("intake", "GET", "/persons/{person_id}"),
        ("tracks", "GET", "/tracks/{case_id}/sessions/{session_id}/notes"),
        ("tracks", "GET", "/tracks/{case_id}/goals/{goal_id}/words"),
        ("housing", "GET", "/housing/shelters/{shelter_id}/address"),
        ("housing", "GET", "/housing/cases/{case_id}/independent-address"),
        ("signals", "GET", "/tips/{tip_id}"),
    }


def test_a_feeds_audience_is_one_of_the_audience_ids():
    for path, ops in document("feeds")["paths"].items():
        for method, op in ops.items():  # the webhooks' commands too, not only the reads
            (audience,) = [p for p in op["parameters"] if p["name"] == "audience"]
            assert audience["schema"]["enum"] == audiences(), (method, path)


def test_integers_of_bodies_are_bounded_to_int64():
    def integers(schema: Any) -> list[dict[str, Any]]:
        if isinstance(schema, dict):
            own = [schema] if schema.get("type") == "integer" else []
            return own + [i for value in schema.values() for i in integers(value)]
        if isinstance(schema, list):
            return [i for item in schema for i in integers(item)]
        return []

    found = [i for name in available() for i in integers(document(name)["components"]["schemas"])]
    assert found, "no integer in any model: the test would prove nothing"
    assert all(i["maximum"] <= 2**63 - 1 and i["minimum"] >= -(2**63) for i in found)


def test_integer_parameters_are_bounded_to_int64():
    for name, _method, path, op in ALL:
        for parameter in op.get("parameters", []):
            schema = parameter["schema"]
            for option in (schema, *schema.get("anyOf", ())):
                if option.get("type") == "integer":
                    assert option["maximum"] <= 2**63 - 1 and option["minimum"] >= -(2**63), (name, path, parameter)
