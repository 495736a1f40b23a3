"""The legal access table as a matrix: every endpoint, every kind of caller, over real HTTP.

Expectations are written out here by hand, independently of services/legal/access.py, so a change to the table
that is not also a decision shows up as a failing cell. "ok" means admitted (the command may still be a 422).
"""

from __future__ import annotations

import pytest

from tests.support.legal_harness import (
    COURT,
    OFFICE,
    LegalStage,
    shared_legal_stage,  # noqa: F401 - the session-wide service
)

CALLERS = {
    "payoke caseworker": ("centre-payoke", "caseworker"),
    "payoke manager": ("centre-payoke", "manager"),
    "pag-asa caseworker": ("centre-pag-asa", "caseworker"),
    "immigration officer": ("immigration-office", "officer"),
    "immigration clerk": ("immigration-office", "clerk"),
    "antwerp magistrate": (OFFICE, "magistrate"),
    "antwerp clerk": (OFFICE, "clerk"),
    "ghent magistrate": ("prosecution-ghent", "magistrate"),
    "antwerp labour auditor": ("labour-auditorate-antwerp", "magistrate"),
    "federal police": ("police-federal", "officer"),
    "myria": ("myria", "analyst"),
}

CENTRE_ONLY = {"ok": {"payoke caseworker"}, 404: {"pag-asa caseworker"}}
CENTRE_OR_OFFICE = {"ok": {"payoke caseworker", "antwerp magistrate"},
                    404: {"pag-asa caseworker", "ghent magistrate", "antwerp labour auditor"}}  # fmt: skip
# (method, path under the case, body) -> who is admitted ("ok") and who gets 404; everyone else gets 403.
ENDPOINTS: list[tuple[str, str, dict, dict]] = [
    ("post", "residence/open", {}, CENTRE_ONLY),
    ("post", "residence/requests", {"document": "annex-15"}, CENTRE_ONLY),
    ("post", "residence/renewal-requests", {}, CENTRE_ONLY),
    ("post", "residence/decisions", {"outcome": "refused", "reason": "conditions-not-met"},
     {"ok": {"immigration officer"}}),
    ("post", "residence/voluntary-return", {"on": "2026-01-05"}, CENTRE_ONLY),
    ("post", "residence/ending", {"reason": "stopped-cooperating", "on": "2026-01-04"}, CENTRE_ONLY),
    ("post", "proceedings/statements", {"kind": "statement", "unit": "police-zone-antwerp",
                                        "report_number": "AN.1/26"}, CENTRE_ONLY),
    ("post", "proceedings/file", {"office": OFFICE, "file_number": "AN55.1/26"}, CENTRE_OR_OFFICE),
    ("post", "proceedings/opinion-requests", {"step": "a-card-initial"},
     {"ok": {"payoke caseworker", "immigration officer"}, 404: {"pag-asa caseworker"}}),
    ("post", "proceedings/opinions", {"step": "a-card-initial", "outcome": "victim"},
     {"ok": {"antwerp magistrate"}, 404: {"ghent magistrate", "antwerp labour auditor"}}),
    ("post", "proceedings/stages", {"stage": "preliminary-inquiry"}, CENTRE_OR_OFFICE),
    ("post", "proceedings/hearings", {"court": COURT, "hearing_on": "2026-06-01", "attendance_required": False},
     CENTRE_OR_OFFICE),
    ("post", "proceedings/civil-party", {}, CENTRE_ONLY),
    ("post", "proceedings/requisitions", {"asks_trafficking_conviction": True}, CENTRE_OR_OFFICE),
    ("post", "proceedings/verdicts", {"court": COURT, "instance": "first-instance",
                                      "defendants": [{"defendant": "defendant-1", "outcome": "acquitted"}]},
     CENTRE_OR_OFFICE),
    ("post", "proceedings/appeals", {"by": "prosecution"}, CENTRE_OR_OFFICE),
    ("post", "proceedings/compensation", {"court": COURT, "amount_cents": 100}, CENTRE_ONLY),
    ("post", "proceedings/conclusion", {"outcome": "final-judgment"}, CENTRE_OR_OFFICE),
    ("get", "residence", {}, {"ok": {"payoke caseworker", "payoke manager", "immigration officer",
                                     "immigration clerk", "antwerp magistrate", "antwerp clerk"},
                              404: {"pag-asa caseworker", "ghent magistrate", "antwerp labour auditor"}}),
    ("get", "proceedings", {}, {"ok": {"payoke caseworker", "payoke manager", "antwerp magistrate", "antwerp clerk"},
                                404: {"pag-asa caseworker", "ghent magistrate", "antwerp labour auditor"}}),
]  # fmt: skip


@pytest.fixture(scope="module")
def stage(legal_stage_for_session: LegalStage) -> LegalStage:
    return legal_stage_for_session


@pytest.fixture(scope="module")
async def case(stage: LegalStage) -> str:
    """A Payoke case whose criminal file is assigned to the Antwerp prosecutor's office."""
    case_id = await stage.open_case()
    await stage.statement_and_file(case_id)
    return case_id


def expected(rule: dict, label: str) -> object:
    if label in rule["ok"]:
        return "ok"
    return 404 if label in rule.get(404, set()) else 403


async def call(stage: LegalStage, method: str, path: str, body: dict, headers: dict) -> int:
    if method == "get":
        return (await stage.svc.client.get(path, headers=headers)).status_code
    return (await stage.svc.client.post(path, json=body, headers=headers)).status_code


@pytest.mark.parametrize("label", list(CALLERS))
async def test_each_caller_reaches_exactly_the_endpoints_the_access_table_grants(
    stage: LegalStage, case: str, label: str
) -> None:
    headers = stage.as_(*CALLERS[label])
    wrong = {}
    for method, path, body, rule in ENDPOINTS:
        status = await call(stage, method, f"/cases/{case}/{path}", body, headers)
        got = "ok" if status not in {401, 403, 404} else status
        if got != expected(rule, label):
            wrong[f"{method.upper()} {path}"] = (status, expected(rule, label))
    deadlines = await call(stage, "get", "/centres/centre-payoke/deadlines", {}, headers)
    if (deadlines == 200) != (label in {"payoke caseworker", "payoke manager"}) or deadlines not in {200, 403}:
        wrong["GET deadlines"] = (deadlines, "200 for Payoke's own staff, else 403")
    assert wrong == {}


async def test_another_centres_case_answers_exactly_like_a_case_that_does_not_exist(
    stage: LegalStage, case: str
) -> None:
    theirs = await stage.svc.client.get(f"/cases/{case}/residence", headers=stage.as_("centre-pag-asa", "caseworker"))
    unknown = await stage.svc.client.get("/cases/case-nobody/residence", headers=stage.centre)
    assert (theirs.status_code, theirs.json()["detail"]) == (404, f"no case {case}")
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "no case case-nobody")
    assert (await stage.svc.client.get(f"/cases/{case}/residence")).status_code == 401
