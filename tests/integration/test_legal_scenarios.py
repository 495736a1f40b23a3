"""The victim-status procedure over HTTP, with real PostgreSQL, the real broker and a clock the tests move.

One legal service serves the whole module (its clock only moves forward); every test opens its own case from a
real CaseOpened on intake's topic and reads its dates relative to the clock's today.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from schemas.legal import (
    DocumentExpired,
    DocumentExpiryReminderDue,
    DocumentRenewed,
    HearingStayWarning,
    LegalCaseRegistered,
    ResidenceProcedureOpened,
    ResidenceStatusEnded,
)
from services.legal.rules import days_end, months_end
from services.legal.timekeeping import morning_of
from tests.support.kafka import headers_of, read_topic
from tests.support.legal_harness import (
    COURT,
    LegalStage,
    shared_legal_stage,  # noqa: F401 - the session-wide service
)


@pytest.fixture(scope="module")
def stage(legal_stage_for_session: LegalStage) -> LegalStage:
    return legal_stage_for_session


def conviction() -> dict:
    return {"court": COURT, "instance": "first-instance",
            "defendants": [{"defendant": "defendant-1", "outcome": "convicted-of-trafficking"},
                           {"defendant": "defendant-2", "outcome": "acquitted"}]}  # fmt: skip


async def test_an_adults_full_path_leads_from_the_annex_15_to_the_b_card(stage: LegalStage) -> None:
    case = await stage.open_case()
    t0 = stage.today
    assert (await stage.residence(case))["procedure_open"] is True
    await stage.issue(case, "annex-15")
    status = await stage.residence(case)
    assert status["current"]["document"] == "annex-15"
    assert status["current"]["ends_on"] == days_end(t0, 45).isoformat()  # 45 days, the first day included
    assert status["next_deadline"] == {"case_id": case, "kind": "reflection-period-end", "document": "annex-15",
                                       "due_on": days_end(t0, 45).isoformat(), "court": None}  # fmt: skip
    assert len(await stage.pending_timers(case)) == 3  # reminders 14 and 3 days before, and the expiry

    await stage.move_by(10)
    await stage.statement_and_file(case)
    await stage.issue(case, "attestation-of-immatriculation")
    ai_on = stage.today
    status = await stage.residence(case)
    assert status["current"]["ends_on"] == months_end(ai_on, 3).isoformat()
    # The Annex 15's timers were replaced by the attestation's: only the document in force has deadlines.
    assert all(":attestation-of-immatriculation:" in key for key in await stage.pending_timers(case))

    await stage.move_by(50)  # past the Annex 15's end: its replaced timers never fire
    await stage.opinion(case)
    await stage.issue(case, "a-card")
    a_on = stage.today
    assert (await stage.residence(case))["current"]["ends_on"] == months_end(a_on, 6).isoformat()

    await stage.move_by(90)
    await stage.ok(case, "proceedings/verdicts", conviction(), stage.magistrate)
    await stage.issue(case, "b-card")
    status = await stage.residence(case)
    assert status["current"]["document"] == "b-card" and status["current"]["ends_on"] is None
    assert status["ended"]["reason"] == "status-granted-unlimited"
    assert status["stay_valid_today"] is True
    assert await stage.pending_timers(case) == []  # unlimited: nothing to remind of
    assert await stage.events(case, "DocumentExpired") == []
    assert await stage.events(case, "DocumentExpiryReminderDue") == []


async def test_a_minors_reflection_period_lasts_three_months_and_expires_once(stage: LegalStage) -> None:
    case = await stage.open_case(minor=True)
    t0 = stage.today
    await stage.issue(case, "annex-15")
    ends = months_end(t0, 3)
    assert (await stage.residence(case))["current"]["ends_on"] == ends.isoformat()
    assert ends > days_end(t0, 45)

    await stage.move_to(ends - timedelta(days=14))
    reminders = await stage.events(case, "DocumentExpiryReminderDue")
    assert [(r.days_before, r.due_on) for r in reminders] == [(14, ends - timedelta(days=14))]

    await stage.move_to(ends + timedelta(days=1))
    await stage.move_by(1)  # a later pass finds nothing left to fire for this case
    reminders = await stage.events(case, "DocumentExpiryReminderDue")
    assert [r.days_before for r in reminders] == [14, 3]
    expired = await stage.events(case, "DocumentExpired")
    assert expired == [DocumentExpired(case_id=case, document="annex-15", ends_on=ends,
                                       expired_on=ends + timedelta(days=1), request_pending=False)]  # fmt: skip
    status = await stage.residence(case)
    assert status["current"]["expired"] is True and status["stay_valid_today"] is False
    assert status["reminders_sent"] == 2


async def test_an_attestation_is_renewed_once_and_the_second_renewal_is_refused(stage: LegalStage) -> None:
    case = await stage.open_case()
    await stage.statement_and_file(case)
    await stage.issue(case, "attestation-of-immatriculation")
    first_end = months_end(stage.today, 3)
    await stage.move_to(first_end - timedelta(days=14))  # the reminder prompts the renewal
    await stage.issue(case, renewal=True)
    renewed = await stage.events(case, "DocumentRenewed")
    second_end = months_end(first_end + timedelta(days=1), 3)
    assert renewed == [DocumentRenewed(case_id=case, document="attestation-of-immatriculation",
                                       decided_on=stage.today, starts_on=first_end + timedelta(days=1),
                                       ends_on=second_end, renewal_number=1)]  # fmt: skip
    # The renewed document's timers replace the first period's: its 3-day reminder and expiry never fire.
    assert all(second_end.isoformat() in key for key in await stage.pending_timers(case))

    refused = await stage.post(case, "residence/renewal-requests", {}, stage.centre)
    assert refused.status_code == 422
    assert refused.json()["field"] == "renewals"
    assert "renewed only once" in refused.json()["detail"]
    await stage.move_to(first_end + timedelta(days=2))
    assert await stage.events(case, "DocumentExpired") == []


async def test_an_a_card_renewal_without_the_magistrates_confirmation_is_refused(stage: LegalStage) -> None:
    case = await stage.open_case()
    await stage.statement_and_file(case)
    await stage.opinion(case)
    await stage.issue(case, "a-card")
    card_end = months_end(stage.today, 6)
    await stage.move_to(card_end - timedelta(days=20))

    refused = await stage.post(case, "residence/renewal-requests", {}, stage.centre)
    assert refused.status_code == 422
    assert refused.json()["field"] == "magistrate_confirmation"
    assert refused.headers["content-type"].startswith("application/problem+json")

    await stage.opinion(case, step="a-card-renewal")
    await stage.issue(case, renewal=True)
    status = await stage.residence(case)
    assert status["current"]["renewals"] == 1
    assert status["current"]["ends_on"] == months_end(card_end + timedelta(days=1), 6).isoformat()


async def test_renewed_contact_with_the_exploiters_ends_the_status_and_its_deadlines(stage: LegalStage) -> None:
    case = await stage.open_case()
    await stage.issue(case, "annex-15")
    ends = days_end(stage.today, 45)
    await stage.ok(case, "residence/ending", {"reason": "renewed-contact-with-exploiters"}, stage.centre)
    assert (await stage.residence(case))["ended"]["reason"] == "renewed-contact-with-exploiters"
    assert await stage.pending_timers(case) == []

    late = await stage.post(case, "residence/requests", {"document": "attestation-of-immatriculation"},
                            stage.centre)  # fmt: skip
    assert late.status_code == 422 and late.json()["field"] == "status"
    await stage.move_to(ends + timedelta(days=1))
    assert await stage.events(case, "DocumentExpiryReminderDue") == []
    assert await stage.events(case, "DocumentExpired") == []


async def test_a_dismissal_of_the_proceedings_ends_the_status(stage: LegalStage) -> None:
    case = await stage.open_case()
    await stage.statement_and_file(case)
    await stage.issue(case, "attestation-of-immatriculation")
    answer = await stage.ok(case, "proceedings/conclusion", {"outcome": "dismissed"}, stage.magistrate)
    assert answer["events"] == ["ProceedingsConcluded", "ResidenceStatusEnded"]
    ended = await stage.events(case, "ResidenceStatusEnded")
    assert ended == [ResidenceStatusEnded(case_id=case, ended_on=stage.today, reason="proceedings-closed")]
    assert await stage.pending_timers(case) == []
    summary = (await stage.svc.client.get(f"/cases/{case}/proceedings", headers=stage.magistrate)).json()
    assert summary["summary"]["concluded"]["outcome"] == "dismissed"


async def test_an_eu_citizen_is_followed_without_documents_until_they_ask_for_them(stage: LegalStage) -> None:
    case = await stage.open_case(eu_citizen=True)
    assert [type(e) for e in await stage.events(case)] == [LegalCaseRegistered]
    status = await stage.residence(case)
    assert status["procedure_open"] is False and status["current"] is None
    assert status["stay_valid_today"] is True  # free movement: no victim-status document needed

    await stage.statement_and_file(case)
    hearing_on = stage.today + timedelta(days=20)
    await stage.ok(case, "proceedings/hearings", {"court": COURT, "hearing_on": hearing_on.isoformat(),
                                                  "attendance_required": True}, stage.centre)  # fmt: skip
    await stage.move_to(hearing_on - timedelta(days=1))
    assert await stage.events(case, "HearingStayWarning") == []

    request = await stage.post(case, "residence/requests", {"document": "annex-15"}, stage.centre)
    assert request.status_code == 404  # no procedure is open for them
    await stage.ok(case, "residence/open", {}, stage.centre)
    opened = await stage.events(case, "ResidenceProcedureOpened")
    assert opened == [ResidenceProcedureOpened(case_id=case, opened_on=stage.today, unaccompanied_minor=False,
                                               eu_citizen=True, on_request=True)]  # fmt: skip
    await stage.ok(case, "residence/voluntary-return", {}, stage.centre)
    assert (await stage.residence(case))["ended"]["reason"] == "voluntary-return"


async def test_a_hearing_after_the_a_cards_end_raises_one_stay_warning(stage: LegalStage) -> None:
    case = await stage.open_case()
    await stage.statement_and_file(case)
    await stage.opinion(case)
    await stage.issue(case, "a-card")
    card_end = months_end(stage.today, 6)
    hearing_on = card_end + timedelta(days=10)
    await stage.ok(case, "proceedings/hearings", {"court": COURT, "hearing_on": hearing_on.isoformat(),
                                                  "attendance_required": True}, stage.magistrate)  # fmt: skip
    async with stage.svc.runtime.pool.acquire() as conn:
        due = await conn.fetchval("SELECT due_at FROM timers WHERE key = $1", f"legal:{case}:hearing:1")
    assert due == morning_of(hearing_on - timedelta(days=14))

    await stage.move_to(hearing_on - timedelta(days=15))
    assert await stage.events(case, "HearingStayWarning") == []
    await stage.move_to(hearing_on - timedelta(days=14))  # the card is still valid today, not on the hearing day
    await stage.move_by(1)
    warnings = await stage.events(case, "HearingStayWarning")
    assert warnings == [HearingStayWarning(case_id=case, hearing_on=hearing_on, court=COURT, document="a-card",
                                           ends_on=card_end, warned_on=hearing_on - timedelta(days=14))]  # fmt: skip
    # A renewal covering the hearing is re-checked at once and gives no new warning.
    await stage.opinion(case, step="a-card-renewal")
    await stage.issue(case, renewal=True)
    assert len(await stage.events(case, "HearingStayWarning")) == 1
    assert (await stage.residence(case))["hearing_warnings"] == 1
    deadlines = await stage.svc.client.get("/centres/centre-payoke/deadlines?within_days=400&limit=500",
                                           headers=stage.centre)  # fmt: skip
    assert deadlines.json()["next"] is None  # one page holds them all: none is left unread
    mine = [d for d in deadlines.json()["items"] if d["case_id"] == case]
    assert [d["kind"] for d in mine] == ["hearing", "document-expiry"]


async def test_a_stale_expected_version_is_a_conflict_and_never_a_lost_write(stage: LegalStage) -> None:
    case = await stage.open_case()
    version = (await stage.residence(case))["version"]
    body = {"document": "annex-15", "expected_version": version}
    first, second = await asyncio.gather(stage.post(case, "residence/requests", body, stage.centre),
                                         stage.post(case, "residence/requests", body, stage.centre))  # fmt: skip
    assert sorted([first.status_code, second.status_code]) == [201, 409]
    assert len(await stage.events(case, "DocumentRequested")) == 1
    stale = await stage.post(case, "residence/decisions", {"outcome": "issued", "expected_version": version},
                             stage.immigration)  # fmt: skip
    assert stale.status_code == 409


async def test_commands_without_a_version_racing_on_one_file_are_each_decided_on_a_fresh_read(
    stage: LegalStage,
) -> None:
    case = await stage.open_case()
    statements = [{"kind": "complaint", "unit": "police-zone-antwerp", "report_number": f"AN.55.L1.0123{i:02d}/2026"}
                  for i in range(12)]  # fmt: skip
    answers = await asyncio.gather(*(stage.post(case, "proceedings/statements", body, stage.centre)
                                     for body in statements))  # fmt: skip
    assert [a.status_code for a in answers] == [201] * 12, [a.json() for a in answers if a.status_code != 201]
    assert len(await stage.events(case, "StatementMade")) == 12


async def test_rule_breaches_are_422_problems_naming_the_field(stage: LegalStage) -> None:
    case = await stage.open_case()
    b_card = await stage.post(case, "residence/requests", {"document": "b-card"}, stage.centre)
    assert (b_card.status_code, b_card.json()["field"]) == (422, "verdict")
    future = (stage.today + timedelta(days=1)).isoformat()
    ahead = await stage.post(case, "residence/requests", {"document": "annex-15", "on": future}, stage.centre)
    assert (ahead.status_code, ahead.json()["field"]) == (422, "on")
    await stage.ok(case, "residence/requests", {"document": "annex-15"}, stage.centre)
    no_reason = await stage.post(case, "residence/decisions", {"outcome": "refused"}, stage.immigration)
    assert (no_reason.status_code, no_reason.json()["field"]) == (422, "reason")
    typed_dates = await stage.post(case, "residence/decisions", {"outcome": "issued", "ends_on": future},
                                   stage.immigration)  # fmt: skip
    assert typed_dates.status_code == 422  # validity dates are computed, never accepted from a caller


async def test_the_procedure_opens_from_a_real_case_opened_and_is_published_on_the_legal_topic(
    stage: LegalStage,
) -> None:
    case = await stage.open_case(minor=True)
    recorded = await stage.svc.runtime.store.read_case(case)
    assert [r.event_type for r in recorded] == ["LegalCaseRegistered", "ResidenceProcedureOpened"]
    assert recorded[1].event.unaccompanied_minor is True
    assert recorded[0].causation_id is not None  # caused by intake's CaseOpened, across the broker
    await stage.svc.runtime.relay.drain()

    async def on_topic() -> list:
        records = await read_topic(stage.svc.runtime.endpoints.bootstrap, "legal.events.v1")
        # This service's own events (other legal services of the session also follow every CaseOpened), one
        # copy per event id (at-least-once: a batch the broker was slow to acknowledge is published again).
        ours = {str(r.event_id).replace("-", "") for r in recorded}
        seen: dict[str, str] = {}
        for r in records:
            event_id = headers_of(r)["event_id"].replace("-", "")
            if r.key == case.encode() and event_id in ours:
                seen.setdefault(event_id, headers_of(r)["event_type"])
        return list(seen.values())

    assert await on_topic() == ["LegalCaseRegistered", "ResidenceProcedureOpened"]


async def test_the_openapi_document_lists_every_command_and_query(stage: LegalStage) -> None:
    paths = (await stage.svc.client.get("/openapi.json")).json()["paths"]
    assert len([p for p in paths if p.startswith("/cases/")]) == 21
    assert "/cases/{case_id}/residence/stay" in paths  # the stay on any day (tests/integration/test_legal_stay.py)
    assert "/centres/{centre}/deadlines" in paths
    assert "422" in paths["/cases/{case_id}/residence/requests"]["post"]["responses"]
    assert DocumentExpiryReminderDue.event_type in (await stage.svc.client.get("/asyncapi.json")).text


async def _deadline_page(stage: LegalStage, query: str) -> dict[str, Any]:
    response = await stage.svc.client.get(f"/centres/centre-payoke/deadlines?within_days=400&{query}",
                                          headers=stage.centre)  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()


def _key(deadline: dict[str, Any]) -> tuple[str, str]:
    return deadline["due_on"], deadline["case_id"]


async def test_walking_the_deadlines_two_at_a_time_reads_each_once_in_order_with_cases_opened_between_pages(
    stage: LegalStage,
) -> None:
    mine: set[str] = set()
    for _ in range(5):  # an Annex 15 gives each case exactly one deadline (its document's end)
        case = await stage.open_case()
        await stage.issue(case, "annex-15")
        mine.add(case)
    before = [_key(d) for d in (await _deadline_page(stage, "limit=500"))["items"] if d["case_id"] in mine]
    assert len(before) == 5
    walked: list[tuple[str, str]] = []
    behind: set[tuple[str, str]] = set()  # opened between pages, sorting before the page read last
    ahead: set[tuple[str, str]] = set()
    gaps = 0
    page = await _deadline_page(stage, "limit=2")
    while True:
        walked += [_key(d) for d in page["items"] if d["case_id"] in mine]
        if page["next"] is None:
            break
        # One case today (its id sorts either side of the cursor), one tomorrow (after the cursor, surely); in
        # the first three gaps only, so the walk reaches its end.
        for move in (0, 1) if gaps < 3 else ():
            await stage.move_by(move)
            case = await stage.open_case()
            await stage.issue(case, "annex-15")
            mine.add(case)
            found = (await _deadline_page(stage, "limit=500"))["items"]
            new = next(_key(d) for d in found if d["case_id"] == case)
            (ahead if new > _key(page["items"][-1]) else behind).add(new)
        gaps += 1
        page = await _deadline_page(stage, f"limit=2&after={page['next']}")
    assert len(walked) == len(set(walked))  # none read twice
    assert walked == sorted(walked)  # in the endpoint's order
    assert set(before) | ahead == set(walked)  # none lost: every one there at the start, and every later one
    assert not behind & set(walked)  # ahead of the cursor; one behind it belongs to a page already read
    assert len(ahead) >= 3  # the walk did meet deadlines recorded while it went


@pytest.mark.parametrize("query, field", [("limit=0", "limit"), ("limit=501", "limit"),
                                          ("after=AAAA", "after"), ("after=not%20a%20cursor", "after"),
                                          ("after=" + "A" * 401, "after")])  # fmt: skip
async def test_a_deadline_page_out_of_bounds_or_a_forged_cursor_is_refused_naming_the_field(
    stage: LegalStage, query: str, field: str
) -> None:
    response = await stage.svc.client.get(f"/centres/centre-payoke/deadlines?{query}", headers=stage.centre)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in response.json()["errors"]], response.text
