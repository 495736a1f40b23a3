"""Only plausible facts in legal (issue 13): a date the case's history or the calendar rules out, and an office
the audience registry does not know, are refused with a 422 naming the field and the rule (or the valid ids),
and nothing is recorded: the stream's version stays where it was."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from schemas.audiences import PROSECUTION_OFFICES
from tests.support.legal_harness import (
    COURT,
    LegalStage,
    shared_legal_stage,  # noqa: F401 - the module's legal service
)

pytestmark = pytest.mark.integration
VERDICT = {"court": COURT, "instance": "first-instance",
           "defendants": [{"defendant": "defendant-1", "outcome": "convicted-of-trafficking"}]}  # fmt: skip
STATEMENT = {"kind": "statement", "unit": "police-zone-antwerp", "report_number": "AN.55.L1.000001/2026"}


@pytest.fixture(scope="module")
def stage(legal_stage_for_session: LegalStage) -> LegalStage:
    return legal_stage_for_session


async def version(stage: LegalStage, case_id: str, stream: str) -> int:
    return len(await stage.svc.runtime.store.read_stream(f"{stream}-{case_id}"))


async def refused(stage: LegalStage, case_id: str, path: str, body: dict[str, Any], who: dict[str, str]
                  ) -> dict[str, Any]:  # fmt: skip
    """The problem document of a refused command, checked to have changed neither stream."""
    before = (await version(stage, case_id, "residence"), await version(stage, case_id, "proceedings"))
    response = await stage.post(case_id, path, body, who)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await version(stage, case_id, "residence"), await version(stage, case_id, "proceedings")) == before
    return response.json()


async def test_a_statement_dated_2001_on_a_case_opened_in_2026_is_refused(stage: LegalStage) -> None:
    case = await stage.open_case()
    problem = await refused(stage, case, "proceedings/statements", {**STATEMENT, "on": "2001-03-14"}, stage.centre)
    assert (problem["field"], problem["rule"]) == ("on", "statement-not-before-case-opened")
    await stage.ok(case, "proceedings/statements", {**STATEMENT, "on": stage.today.isoformat()}, stage.centre)


async def test_a_verdict_dated_2019_and_a_verdict_dated_tomorrow_are_refused_and_today_is_accepted(
    stage: LegalStage,
) -> None:
    case = await stage.open_case()
    await stage.statement_and_file(case)
    old = await refused(stage, case, "proceedings/verdicts", {**VERDICT, "on": "2019-06-20"}, stage.magistrate)
    assert (old["field"], old["rule"]) == ("on", "verdict-not-before-file-assigned")
    tomorrow = (stage.today + timedelta(days=1)).isoformat()
    future = await refused(stage, case, "proceedings/verdicts", {**VERDICT, "on": tomorrow}, stage.magistrate)
    assert (future["field"], future["rule"]) == ("on", "verdict-not-in-future")
    await stage.ok(case, "proceedings/verdicts", VERDICT, stage.magistrate)


async def test_a_verdict_or_a_hearing_without_any_criminal_file_is_refused(stage: LegalStage) -> None:
    case = await stage.open_case()
    await stage.ok(case, "proceedings/statements", STATEMENT, stage.centre)
    verdict = await refused(stage, case, "proceedings/verdicts", VERDICT, stage.centre)
    assert verdict["rule"] == "verdict-not-before-file-assigned"
    hearing = {"court": COURT, "hearing_on": (stage.today + timedelta(days=60)).isoformat(),
               "attendance_required": True}  # fmt: skip
    assert (await refused(stage, case, "proceedings/hearings", hearing, stage.centre))["rule"] == (
        "hearing-scheduled-not-before-file-assigned"
    )
    await stage.ok(case, "proceedings/file", {"office": "prosecution-antwerp", "file_number": "AN55.9/26"},
                   stage.centre)  # fmt: skip
    await stage.ok(case, "proceedings/hearings", hearing, stage.centre)  # its day may be ahead, not its scheduling
    late = {**hearing, "on": (stage.today + timedelta(days=1)).isoformat()}
    assert (await refused(stage, case, "proceedings/hearings", late, stage.centre))["rule"] == (
        "hearing-scheduling-not-in-future"
    )


async def test_a_file_assigned_to_an_office_nobody_knows_is_refused_with_the_valid_offices(stage: LegalStage) -> None:
    case = await stage.open_case()
    await stage.ok(case, "proceedings/statements", STATEMENT, stage.centre)
    body = {"office": "prosecution-atlantis", "file_number": "AT.1/26"}
    problem = await refused(stage, case, "proceedings/file", body, stage.centre)
    assert problem["field"] == "office"
    assert problem["allowed"] == list(PROSECUTION_OFFICES) and "federal-prosecution" in problem["allowed"]
    assert "prosecution-atlantis" not in problem["detail"]  # never echo the caller's input
    await stage.ok(case, "proceedings/file", {"office": "federal-prosecution", "file_number": "FD.1/26"}, stage.centre)
    assert (await stage.svc.client.get(f"/cases/{case}/proceedings", headers=stage.centre)).json()["summary"][
        "office"] == "federal-prosecution"  # fmt: skip


async def test_an_attestation_renewal_requested_on_its_issue_day_is_refused_and_the_next_day_accepted(
    stage: LegalStage,
) -> None:
    case = await stage.open_case()
    await stage.statement_and_file(case)
    await stage.issue(case, "attestation-of-immatriculation")
    problem = await refused(stage, case, "residence/renewal-requests", {}, stage.centre)
    assert (problem["field"], problem["rule"]) == ("on", "renewal-request-after-attestation-issued")
    await stage.move_by(1)
    await stage.ok(case, "residence/renewal-requests", {}, stage.centre)


async def test_a_decision_dated_before_the_request_or_in_the_future_is_refused(stage: LegalStage) -> None:
    case = await stage.open_case()
    await stage.move_by(2)
    await stage.ok(case, "residence/requests", {"document": "annex-15"}, stage.centre)
    early = (stage.today - timedelta(days=1)).isoformat()
    before = await refused(stage, case, "residence/decisions", {"outcome": "issued", "on": early}, stage.immigration)
    assert (before["field"], before["rule"]) == ("on", "decision-not-before-request")
    ahead = (stage.today + timedelta(days=3)).isoformat()
    future = await refused(stage, case, "residence/decisions", {"outcome": "issued", "on": ahead}, stage.immigration)
    assert future["rule"] == "decision-not-in-future"
    await stage.ok(case, "residence/decisions", {"outcome": "issued"}, stage.immigration)


async def test_an_opinion_dated_before_its_request_is_refused(stage: LegalStage) -> None:
    case = await stage.open_case()
    await stage.statement_and_file(case)
    await stage.move_by(1)
    await stage.ok(case, "proceedings/opinion-requests", {"step": "a-card-initial"}, stage.immigration)
    body = {
        "step": "a-card-initial",
        "outcome": "victim",
        "on": date.fromordinal(stage.today.toordinal() - 1).isoformat(),
    }
    problem = await refused(stage, case, "proceedings/opinions", body, stage.magistrate)
    assert (problem["field"], problem["rule"]) == ("on", "opinion-not-before-request")
    await stage.opinion(case)
