"""Every operation of every service answers as its OpenAPI document says: schemathesis over the running services.

Each service runs for real (its own database, the module's broker) and schemathesis generates requests from the
service's own document (``app.openapi()``, harbour/http/openapi.py): its coverage phase (every parameter and field
at and past its bounds, of the wrong type, missing: deterministic), then a bounded, derandomized number of valid
and of invalid examples per operation, so a run is repeatable and short (some 4,000 requests in under a minute).
Every answer must pass schemathesis' checks: no server error, a documented status code, the documented content
type and a body valid against the documented schema (so every error is the problem document under
``application/problem+json``). A 500 raised in the app fails the test by itself (the ASGI transport re-raises it).

The caller of each operation is made from the operation's own ``x-harbour-access`` (the service's access table): an
organisation of the first kind and role the first grant admits, so that requests get past the access check and
reach the validation and the endpoint. Every input that made a 500 (the cursor past int64, which the coverage
phase finds without the input guard; the NULs an integrator's longer fuzz found) is a plain regression test in
tests/integration/test_inputs_refused.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from harbour.auth import KNOWN_ORGS, OrgKind, Role, org_kind
from services.registry import available, definition
from tests.support.harness import RunningService, running_service

pytestmark = pytest.mark.integration
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 5  # per operation and mode: enough to reach each parameter's edges, few enough for 80 operations
# Valid requests (they must get past validation to the endpoint) and invalid ones (every way of being refused must
# be a documented problem: the negative mode found the 400 FastAPI answers to a body that is not UTF-8).
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
# A server-sent event stream never ends, so a fuzzed request to it would never be answered in full; its errors come
# from the same dependencies as the feed's pages (the access check, the audience, the cursor), fuzzed there.
NOT_FUZZED = {("GET", "/feeds/{audience}/stream")}


def caller_for(operation: dict[str, Any]) -> tuple[str, Role] | None:
    """An organisation and role the operation's first grant admits (None: the operation takes no token)."""
    access = operation.get("x-harbour-access")
    if access is None:
        # A route that checks its caller by hand (legal's deadlines): a centre's caseworker, whom it admits.
        return ("centre-payoke", Role.CASEWORKER) if operation.get("security") else None
    if access.get("public"):  # harbour.access.public: the signals tip line takes no token
        return None
    grant = access["grants"][0]
    kind = OrgKind(grant["kinds"][0])
    org = "centre-payoke" if kind is OrgKind.CENTRE else next(o for o in sorted(KNOWN_ORGS) if org_kind(o) == kind)
    role = Role(grant["roles"][0]) if grant["roles"] else Role.CASEWORKER
    return org, role


def examples(strategy: Any) -> list[Any]:
    found: list[Any] = []

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def collect(case: Any) -> None:
        found.append(case)

    try:
        collect()
    except Unsatisfiable:
        pass  # negative mode on an operation with nothing to get wrong: what was found is all there is
    return found


def coverage(schema: Any, operation: Any, token: dict[str, str]) -> list[Any]:
    """Schemathesis' coverage phase: each parameter and field at and just past its bounds, of the wrong type,
    missing, empty (deterministic: it is how ``after=9223372036854775808`` is found, once int64 is the bound)."""
    config = schema.config.generation_for(operation=operation)
    cases = list(schema.iter_coverage_cases(operation, generation_modes=list(MODES), generation_config=config))
    for case in cases:
        case.headers = {**(case.headers or {}), **token}  # the caller stays the one the access table admits
    return cases


def ids_in(body: Any, found: dict[str, str]) -> None:
    """Remember the ids an answer names (``referral_id``, ``shelter_id``...): the second round's path parameters."""
    if isinstance(body, dict):
        for key, value in body.items():
            if key.endswith("_id") and isinstance(value, str):
                found.setdefault(key, value)
            else:
                ids_in(value, found)
    elif isinstance(body, list):
        for item in body:
            ids_in(item, found)


async def fuzz(service: RunningService) -> tuple[int, list[str]]:
    """Two rounds: every operation with generated path parameters (mostly unknown ids: 404), then again every
    operation whose path names an id some answer of the first round gave, with that id, so that requests get
    past the lookup to the command or the read itself."""
    document = service.app.openapi()
    schema = schemathesis.openapi.from_dict(document)
    operations = [r.ok() for r in schema.get_all_operations()]
    operations = [o for o in operations if (o.method.upper(), o.path) not in NOT_FUZZED]
    sent, failures, known = 0, [], {}
    for round_ in (1, 2):
        for operation in operations:
            names = {p.name for p in operation.path_parameters}
            if round_ == 2 and not names & set(known):
                continue
            fixed = {name: known[name] for name in names if name in known} if round_ == 2 else {}
            caller = caller_for(document["paths"][operation.path][operation.method.lower()])
            token = service.token(*caller) if caller else {}
            if caller and "audience" in names:
                fixed["audience"] = caller[0]  # an audience reads its own feed only
            cases = [
                case
                for mode in MODES
                for case in examples(operation.as_strategy(mode, headers=token, path_parameters=fixed or None))
            ]
            if round_ == 1:
                cases += coverage(schema, operation, token)
            for case in cases:
                request = case.as_transport_kwargs(base_url=str(service.client.base_url))
                response = await service.client.request(
                    request["method"], request["url"], headers=request["headers"], params=request.get("params"),
                    json=request.get("json"), content=request.get("data"),
                )  # fmt: skip
                sent += 1
                if response.is_success and response.headers.get("content-type", "").startswith("application/json"):
                    ids_in(response.json(), known)
                try:
                    case.validate_response(response, checks=CHECKS)
                except (AssertionError, FailureGroup) as failure:  # a group of what failed: keep the whole story
                    failures.append(f"{operation.method.upper()} {operation.path} -> {response.status_code}: "
                                    f"{str(failure)[:600]}\n{case.as_curl_command()}")  # fmt: skip
    return sent, failures


@pytest.mark.parametrize("name", available())
async def test_every_operation_answers_as_the_services_openapi_document_says(pg_server_url, running_broker, name):
    async with running_service(definition(name), pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               background=False) as service:  # fmt: skip
        sent, failures = await fuzz(service)
    assert sent >= len(service.app.openapi()["paths"]), "too few requests to have tried every operation"
    assert failures == [], "\n\n".join(failures)
