"""The integrator's guide (docs/integrators.md) says what the code does: its generated sections are what `harbour
docs` generates today from the organisation list, the audience list, the production ACLs and every service's access
table, and its example is configured as the guide says."""

from __future__ import annotations

import importlib.util
import re
from argparse import Namespace
from typing import Any

import pytest

from harbour.auth import Role
from harbour.settings import REPO_ROOT
from harbour_tools import integrators
from schemas.audiences import all_audiences

GUIDE = REPO_ROOT / "docs" / "integrators.md"


def test_the_committed_guide_is_what_harbour_docs_generates():
    page = GUIDE.read_text()
    assert integrators.generated(page) == page, "regenerate with: .venv/bin/harbour docs"


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    return integrators.openapi_documents()


def test_the_role_matrix_has_a_row_for_every_operation_of_every_service_and_each_of_its_grants(documents):
    matrix = integrators.render_roles(documents)
    for document in documents.values():
        for path, methods in document["paths"].items():
            for method, operation in methods.items():
                rows = [line for line in matrix.splitlines() if line.startswith(f"| `{method.upper()} {path}` |")]
                grants = operation.get("x-harbour-access", {}).get("grants", [None])
                assert len(rows) == len(grants), (method, path)


def test_the_role_matrix_tells_an_integrator_that_a_transfer_needs_a_centres_manager(documents):
    # What an integrator learnt from a 403 (issue 15): now it is written down, from the access table.
    matrix = integrators.render_roles(documents)
    request = next(line for line in matrix.splitlines() if line.startswith("| `POST /tracks/{case_id}/transfer` |"))
    assert "| `centre` | `manager` |" in request


def test_every_audience_and_every_role_is_listed():
    page = GUIDE.read_text()
    section = page.split("<!-- integrators:audiences:start -->", 1)[1].split("<!-- integrators:audiences:end -->")[0]
    listed = re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.M)
    assert listed == all_audiences(integrators.default_police_zones())
    for role in Role:
        assert f"`{role.value}`" in page


def test_a_stale_section_is_found_and_a_missing_one_refused():
    page = GUIDE.read_text()
    edited = page.replace("| `centre-payoke` | centre |", "| `centre-payoke` | police |", 1)
    assert edited != page and integrators.generated(edited) == page
    try:
        integrators.generated(page.replace("<!-- integrators:roles:end -->", ""))
    except ValueError as exc:
        assert "integrators:roles" in str(exc)
    else:
        raise AssertionError("a guide without its roles section was accepted")


def test_the_example_uses_the_settings_the_guide_gives_for_each_broker(monkeypatch):
    spec = importlib.util.spec_from_file_location(
        "read_milestones", REPO_ROOT / "docs" / "examples" / "read_milestones.py"
    )
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    common = {"bootstrap": "b:9092", "audience": "prosecution-antwerp", "group": "reader", "ca": None}
    development = example.consumer_config(Namespace(**common, production=False))
    assert development["group.id"].startswith("prosecution-antwerp.")
    assert development["session.timeout.ms"] == development["max.poll.interval.ms"] == 6000
    assert development["enable.auto.commit"] is False and development["auto.offset.reset"] == "earliest"
    assert "security.protocol" not in development

    monkeypatch.setenv("KAFKA_PASSWORD", "not-a-real-one")
    production = example.consumer_config(Namespace(**common, production=True))
    assert production["security.protocol"] == "SASL_SSL" and production["sasl.mechanism"] == "SCRAM-SHA-512"
    assert production["sasl.username"] == "aud-prosecution-antwerp"
    assert "session.timeout.ms" not in production
