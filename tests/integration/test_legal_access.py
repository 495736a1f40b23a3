"""The legal access table as a matrix: every endpoint, every kind of caller, over real HTTP.

Expectations are written out here by hand, independently of services/legal/access.py, so a change to the table
that is not also a decision shows up as a failing cell. "ok" means admitted (the command may still be a 422).

A second case was transferred from Payoke to Sürya (tracks' TransferAccepted, consumed): Sürya's staff then
stand where Payoke's stood, and Payoke's cell is the FORMER column: 403 on every command, its own period on a
read (the file as at its hand-over, ``as_of`` set).
"""

from __future__ import annotations

from typing import Any

import pytest

from services.legal.access import ACCESS, Action
from tests.support.access_contract import OK, AccessContract, Cell
from tests.support.legal_harness import COURT, OFFICE, LegalStage
from tests.support.legal_transfers import (
    TransferStage,
    shared_transfer_stage,  # noqa: F401 - the module's legal service, with intake and tracks upstreams
)

CALLERS = {
    "payoke caseworker": ("centre-payoke", "caseworker"),
    "payoke manager": ("centre-payoke", "manager"),
    "pag-asa caseworker": ("centre-pag-asa", "caseworker"),
    "surya caseworker": ("centre-surya", "caseworker"),
    "surya manager": ("centre-surya", "manager"),
    "immigration officer": ("immigration-office", "officer"),
    "immigration clerk": ("immigration-office", "clerk"),
    "antwerp magistrate": (OFFICE, "magistrate"),
    "antwerp clerk": (OFFICE, "clerk"),
    "ghent magistrate": ("prosecution-ghent", "magistrate"),
    "antwerp labour auditor": ("labour-auditorate-antwerp", "magistrate"),
    "federal police": ("police-federal", "officer"),
    "myria": ("myria", "analyst"),
}

CENTRE_ONLY = {"ok": {"payoke caseworker"}, 404: {"pag-asa caseworker", "surya caseworker"}}
CENTRE_OR_OFFICE = {"ok": {"payoke caseworker", "antwerp magistrate"},
                    404: {"pag-asa caseworker", "surya caseworker", "ghent magistrate",
                          "antwerp labour auditor"}}  # fmt: skip
STRANGERS = {"pag-asa caseworker", "surya caseworker", "surya manager", "ghent magistrate", "antwerp labour auditor"}
OWN = "own period"  # a former holder reads the file as at its hand-over
# (method, path under the case, body) -> who is admitted ("ok") and who gets 404 on the case Payoke holds;
# everyone else gets 403. The last column: what Payoke's staff get once the case was transferred (FORMER).
ENDPOINTS: list[tuple[str, str, dict, dict, int | str]] = [
    ("post", "residence/open", {}, CENTRE_ONLY, 403),
    ("post", "residence/requests", {"document": "annex-15"}, CENTRE_ONLY, 403),
    ("post", "residence/renewal-requests", {}, CENTRE_ONLY, 403),
    ("post", "residence/decisions", {"outcome": "refused", "reason": "conditions-not-met"},
     {"ok": {"immigration officer"}}, 403),
    ("post", "residence/voluntary-return", {"on": "2026-01-05"}, CENTRE_ONLY, 403),
    ("post", "residence/ending", {"reason": "stopped-cooperating", "on": "2026-01-04"}, CENTRE_ONLY, 403),
    ("post", "proceedings/statements", {"kind": "statement", "unit": "police-zone-antwerp",
                                        "report_number": "AN.1/26"}, CENTRE_ONLY, 403),
    ("post", "proceedings/file", {"office": OFFICE, "file_number": "AN55.1/26"}, CENTRE_OR_OFFICE, 403),
    ("post", "proceedings/opinion-requests", {"step": "a-card-initial"},
     {"ok": {"payoke caseworker", "immigration officer"}, 404: {"pag-asa caseworker", "surya caseworker"}}, 403),
    ("post", "proceedings/opinions", {"step": "a-card-initial", "outcome": "victim"},
     {"ok": {"antwerp magistrate"}, 404: {"ghent magistrate", "antwerp labour auditor"}}, 403),
    ("post", "proceedings/stages", {"stage": "preliminary-inquiry"}, CENTRE_OR_OFFICE, 403),
    ("post", "proceedings/hearings", {"court": COURT, "hearing_on": "2026-06-01", "attendance_required": False},
     CENTRE_OR_OFFICE, 403),
    ("post", "proceedings/civil-party", {}, CENTRE_ONLY, 403),
    ("post", "proceedings/requisitions", {"asks_trafficking_conviction": True}, CENTRE_OR_OFFICE, 403),
    ("post", "proceedings/verdicts", {"court": COURT, "instance": "first-instance",
                                      "defendants": [{"defendant": "defendant-1", "outcome": "acquitted"}]},
     CENTRE_OR_OFFICE, 403),
    ("post", "proceedings/appeals", {"by": "prosecution"}, CENTRE_OR_OFFICE, 403),
    ("post", "proceedings/compensation", {"court": COURT, "amount_cents": 100}, CENTRE_ONLY, 403),
    ("post", "proceedings/conclusion", {"outcome": "final-judgment"}, CENTRE_OR_OFFICE, 403),
    ("get", "residence", {}, {"ok": {"payoke caseworker", "payoke manager", "immigration officer",
                                     "immigration clerk", "antwerp magistrate", "antwerp clerk"},
                              404: STRANGERS}, OWN),
    ("get", "proceedings", {}, {"ok": {"payoke caseworker", "payoke manager", "antwerp magistrate", "antwerp clerk"},
                                404: STRANGERS}, OWN),
    # The stay on a day is read from the residence file: the same callers as the file itself.
    ("get", "residence/stay", {}, {"ok": {"payoke caseworker", "payoke manager", "immigration officer",
                                          "immigration clerk", "antwerp magistrate", "antwerp clerk"},
                                   404: STRANGERS}, OWN),
]  # fmt: skip

# The entry of the access table (services/legal/access.py) each endpoint is decided by.
A = Action
ACTION_OF: dict[str, Action] = {
    "residence/open": A.OPEN_ON_REQUEST, "residence/requests": A.REQUEST_DOCUMENT,
    "residence/renewal-requests": A.REQUEST_RENEWAL, "residence/decisions": A.DECIDE,
    "residence/voluntary-return": A.CHOOSE_RETURN, "residence/ending": A.END_STATUS,
    "proceedings/statements": A.RECORD_STATEMENT, "proceedings/file": A.ASSIGN_FILE,
    "proceedings/opinion-requests": A.REQUEST_OPINION, "proceedings/opinions": A.GIVE_OPINION,
    "proceedings/stages": A.RECORD_STAGE, "proceedings/hearings": A.SCHEDULE_HEARING,
    "proceedings/civil-party": A.JOIN_CIVIL_PARTY, "proceedings/requisitions": A.FILE_REQUISITIONS,
    "proceedings/verdicts": A.RECORD_VERDICT, "proceedings/appeals": A.LODGE_APPEAL,
    "proceedings/compensation": A.AWARD_COMPENSATION, "proceedings/conclusion": A.CONCLUDE,
    "residence": A.READ_RESIDENCE, "residence/stay": A.READ_RESIDENCE, "proceedings": A.READ_PROCEEDINGS,
}  # fmt: skip
DEADLINES = "/centres/{centre}/deadlines"  # a centre's own deadlines: its staff only, whatever the case


@pytest.fixture(scope="module")
def transfers(transfer_stage_for_module: TransferStage) -> TransferStage:
    return transfer_stage_for_module


@pytest.fixture(scope="module")
def stage(transfers: TransferStage) -> LegalStage:
    return transfers.legal


@pytest.fixture(scope="module")
async def case(stage: LegalStage) -> str:
    """A Payoke case whose criminal file is assigned to the Antwerp prosecutor's office."""
    case_id = await stage.open_case()
    await stage.statement_and_file(case_id)
    return case_id


@pytest.fixture(scope="module")
async def transferred(transfers: TransferStage) -> str:
    """The same, then transferred to Sürya: Payoke is its former holder."""
    case_id = await transfers.legal.open_case()
    await transfers.legal.statement_and_file(case_id)
    await transfers.accept_transfer(case_id, "centre-payoke", "centre-surya")
    return case_id


def expected(rule: dict, label: str) -> object:
    if label in rule["ok"]:
        return "ok"
    return 404 if label in rule.get(404, set()) else 403


# After the transfer Sürya's staff stand where Payoke's stood; Payoke's admitted cells become the FORMER column.
HOLDER_AFTER = {"surya caseworker": "payoke caseworker", "surya manager": "payoke manager"}
FORMER = {"payoke caseworker", "payoke manager"}


def expected_after_transfer(rule: dict, former: int | str, label: str) -> object:
    if label in HOLDER_AFTER:
        return expected(rule, HOLDER_AFTER[label])
    if label in FORMER and expected(rule, label) == "ok":
        return "ok" if former == OWN else former
    return expected(rule, label)


AFTER_A_TRANSFER = "after a transfer"


class TestLegalAccess(AccessContract):
    """Cells in the order the callers used to run them: each caller's commands in turn on the same case."""

    table = ACCESS

    @classmethod
    def cells(cls) -> list[Cell]:
        cells = []
        for label in CALLERS:
            cells += [Cell(f"{m.upper()} {path}", label, expected(rule, label)) for m, path, _, rule, _ in ENDPOINTS]
            for centre, staff in [("centre-payoke", FORMER), ("centre-surya", set(HOLDER_AFTER))]:
                cells.append(Cell(f"GET {centre} deadlines", label, 200 if label in staff else 403))
        for label in CALLERS:
            cells += [Cell(f"{m.upper()} {path}", label, expected_after_transfer(rule, former, label),
                           AFTER_A_TRANSFER) for m, path, _, rule, former in ENDPOINTS]  # fmt: skip
        return cells

    def matrix_routes(self) -> set[tuple[str, str]]:
        return {(m.upper(), f"/cases/{{case_id}}/{path}") for m, path, _, _, _ in ENDPOINTS} | {("GET", DEADLINES)}

    def matrix_entries(self) -> set[Action]:
        assert set(ACTION_OF) == {path for _, path, _, _, _ in ENDPOINTS}
        return set(ACTION_OF.values()) | {A.READ_DEADLINES}  # the deadlines' cells

    def app(self, env: tuple[LegalStage, str, str]) -> Any:
        return env[0].svc.app

    def admitted(self, status: int) -> bool:
        return status < 500 and status not in {401, 403, 404}

    async def call(self, env: tuple[LegalStage, str, str], cell: Cell) -> Any:
        stage, case, transferred = env
        headers = stage.as_(*CALLERS[cell.caller])
        method, _, target = cell.endpoint.partition(" ")
        if target.endswith(" deadlines"):
            return await stage.svc.client.get(DEADLINES.format(centre=target.split()[0]), headers=headers)
        body = next(b for m, path, b, _, _ in ENDPOINTS if (m.upper(), path) == (method, target))
        url = f"/cases/{transferred if cell.matrix == AFTER_A_TRANSFER else case}/{target}"
        if method == "GET":
            return await stage.svc.client.get(url, headers=headers)
        return await stage.svc.client.post(url, json=body, headers=headers)

    async def also(self, env: tuple[LegalStage, str, str], cell: Cell, response: Any) -> None:
        if cell.matrix == AFTER_A_TRANSFER and cell.endpoint.startswith("GET ") and cell.expected == OK:
            as_of = response.json()["as_of"]
            assert (cell.caller in FORMER) == (as_of is not None), f"as_of {as_of}: set for the former holder only"


@pytest.fixture(scope="module")
def access_env(stage: LegalStage, case: str, transferred: str) -> tuple[LegalStage, str, str]:
    return stage, case, transferred


async def test_another_centres_case_answers_exactly_like_a_case_that_does_not_exist(
    stage: LegalStage, case: str
) -> None:
    theirs = await stage.svc.client.get(f"/cases/{case}/residence", headers=stage.as_("centre-pag-asa", "caseworker"))
    unknown = await stage.svc.client.get("/cases/case-nobody/residence", headers=stage.centre)
    assert (theirs.status_code, theirs.json()["detail"]) == (404, f"no case {case}")
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "no case case-nobody")
    assert (await stage.svc.client.get(f"/cases/{case}/residence")).status_code == 401


async def test_the_deadlines_refuse_by_the_table_before_reading_the_query_and_another_centres_by_its_scope(
    stage: LegalStage,
) -> None:
    # Kind and role from the token first (read-deadlines), so a police officer with a forged cursor learns
    # nothing of the query's shape; then the scope: Payoke's staff may not read Sürya's deadlines.
    police = await stage.svc.client.get(DEADLINES.format(centre="centre-payoke") + "?after=AAAA&limit=0",
                                        headers=stage.as_("police-federal", "officer"))  # fmt: skip
    assert (police.status_code, police.json()["detail"]) == (403, "organisations of kind police may not read-deadlines")
    clerk = await stage.svc.client.get(DEADLINES.format(centre="immigration-office"),
                                       headers=stage.as_("immigration-office", "clerk"))  # fmt: skip
    assert clerk.status_code == 403
    other = await stage.svc.client.get(DEADLINES.format(centre="centre-surya"), headers=stage.centre)
    assert (other.status_code, other.json()["detail"]) == (403, "a centre reads only its own deadlines")
    assert (await stage.svc.client.get(DEADLINES.format(centre="centre-payoke"))).status_code == 401
    manager = stage.as_("centre-payoke", "manager")
    own = await stage.svc.client.get(DEADLINES.format(centre="centre-payoke"), headers=manager)
    assert own.status_code == 200 and set(own.json()) == {"items", "next"}
