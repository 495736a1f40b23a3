"""No lapse without a milestone, gaps on the file, the stay on any day and the gauge of persons without one:
the real legal service, the real broker, a clock the tests move and the expiry timers it fires."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest

from harbour_tools.infra import BrokerProcess
from milestones import Pseudonyms
from schemas.legal import StayGapRecorded, StayLapsed
from schemas.milestones import Milestone, milestone_topic
from services.legal.rules import days_end, months_end
from services.legal.timekeeping import BRUSSELS
from tests.support.kafka import headers_of, read_topic
from tests.support.legal_harness import (
    OFFICE,
    LegalStage,
    legal_stage,
    shared_legal_stage,  # noqa: F401 - the module-wide service
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
CENTRE = "centre-payoke"
AUDIENCES = (CENTRE, OFFICE, "immigration-office")


@pytest.fixture(scope="module")
def stage(legal_stage_for_session: LegalStage) -> LegalStage:
    return legal_stage_for_session


async def milestones_of(stage: LegalStage, case: str, audience: str, kind: str) -> list[Milestone]:
    ref = Pseudonyms.from_settings(stage.svc.settings).case_ref(audience, f"ref-{case}")
    records = await read_topic(stage.svc.runtime.endpoints.bootstrap, milestone_topic(audience))
    found = [Milestone.model_validate_json(r.value) for r in records if r.key == ref.encode()]
    # At-least-once: a batch published again is the same milestone (same id).
    return list({m.milestone_id: m for m in found if m.milestone.value == kind}.values())


async def wait_for_milestones(stage: LegalStage, case: str, kind: str, audiences: tuple[str, ...]) -> dict:
    found: dict[str, list[Milestone]] = {}

    async def arrived() -> bool:
        for audience in audiences:
            found[audience] = await milestones_of(stage, case, audience, kind)
        return all(found.values())

    await wait_until(arrived, timeout=60)
    return found


def assert_no_personal_data(milestone: Milestone, case: str) -> None:
    text = milestone.model_dump_json()
    # Neither the case id, nor the person, nor the referral the pseudonym is derived from.
    assert case not in text and f"person-{case}" not in text and f"ref-{case}" not in text
    assert all(v is None or isinstance(v, bool | int) or re.fullmatch(r"[a-z0-9-]+", str(v)) for v in
               milestone.data.values()), milestone.data  # fmt: skip


async def stay(stage: LegalStage, case: str, day: date, who: dict[str, str] | None = None) -> dict[str, Any]:
    response = await stage.svc.client.get(f"/cases/{case}/residence/stay", params={"on": day.isoformat()},
                                          headers=who or stage.centre)  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_annex_15_that_lapses_tells_the_centre_the_prosecution_and_the_immigration_office(
    stage: LegalStage,
) -> None:
    case = await stage.open_case()
    await stage.statement_and_file(case)  # the prosecution office follows the case from its file
    await stage.issue(case, "annex-15")
    ends = days_end(stage.today, 45)
    await stage.move_to(ends)
    assert await stage.events(case, "StayLapsed") == []  # valid through its last day
    await stage.move_to(ends + timedelta(days=1))
    await stage.move_by(1)  # a later pass fires nothing again
    assert await stage.events(case, "StayLapsed") == [StayLapsed(case_id=case, document="annex-15", ends_on=ends,
                                                                 lapsed_from=ends + timedelta(days=1),
                                                                 request_pending=False)]  # fmt: skip
    found = await wait_for_milestones(stage, case, "stay-lapsed", AUDIENCES)
    for audience, milestones in found.items():
        [milestone] = milestones
        assert milestone.data == {"document": "annex-15", "ends_on": ends.isoformat(),
                                  "lapsed_from": (ends + timedelta(days=1)).isoformat(),
                                  "request_pending": False}, audience  # fmt: skip
        assert milestone.occurred_on == ends + timedelta(days=1) and milestone.source == "legal"
        assert milestone.file_number == ("AN55.98.1234/26" if audience == OFFICE else None)
        assert_no_personal_data(milestone, case)
    # An adult: the Guardianship Service hears nothing of it.
    assert await milestones_of(stage, case, "guardianship-service", "stay-lapsed") == []


async def test_an_a_card_renewed_late_records_the_gap_and_tells_the_same_audiences(stage: LegalStage) -> None:
    case = await stage.open_case()
    before_first = stage.today
    await stage.move_by(1)
    await stage.statement_and_file(case)
    await stage.opinion(case)
    await stage.issue(case, "a-card")
    issued_on = stage.today
    card_end = months_end(issued_on, 6)
    await stage.move_to(card_end + timedelta(days=1))  # the expiry: the confirmation has not come
    [lapsed] = await stage.events(case, "StayLapsed")
    assert (lapsed.document, lapsed.request_pending) == ("a-card", False)
    await stage.move_by(3)
    await stage.opinion(case, step="a-card-renewal")  # the magistrate's confirmation, four days late
    await stage.issue(case, renewal=True)
    decided = stage.today
    gap = StayGapRecorded(case_id=case, previous_document="a-card", document="a-card",
                          gap_from=card_end + timedelta(days=1), gap_to=decided - timedelta(days=1),
                          decided_on=decided)  # fmt: skip
    assert await stage.events(case, "StayGapRecorded") == [gap]
    new_end = months_end(decided, 6)

    found = await wait_for_milestones(stage, case, "stay-gap", AUDIENCES)
    for milestones in found.values():
        [milestone] = milestones
        assert milestone.data == {"previous_document": "a-card", "document": "a-card",
                                  "gap_from": gap.gap_from.isoformat(), "gap_to": gap.gap_to.isoformat(),
                                  "decided_on": decided.isoformat()}  # fmt: skip
        assert_no_personal_data(milestone, case)

    # The stay on any day: before the first document, inside, in the gap, after the renewal, after it all.
    early = await stay(stage, case, before_first)
    assert (early["valid"], early["basis"], early["period"], early["gap"]) == (False, "before-first-document",
                                                                               None, None)  # fmt: skip
    inside = await stay(stage, case, issued_on + timedelta(days=30))
    assert inside["valid"] is True and inside["period"]["document"] == "a-card"
    assert (inside["period"]["starts_on"], inside["period"]["ends_on"]) == (issued_on.isoformat(),
                                                                            card_end.isoformat())  # fmt: skip
    assert (await stay(stage, case, card_end))["valid"] is True  # its last day
    for day in (card_end + timedelta(days=1), decided - timedelta(days=1)):
        between = await stay(stage, case, day)
        assert (between["valid"], between["basis"]) == (False, "gap")
        assert between["gap"]["gap_from"] == gap.gap_from.isoformat()
        assert between["gap"]["gap_to"] == gap.gap_to.isoformat()
        assert between["gap"]["after"]["ends_on"] == card_end.isoformat()
    renewed = await stay(stage, case, decided)
    assert renewed["valid"] is True and renewed["period"]["renewal_number"] == 1
    after = await stay(stage, case, new_end + timedelta(days=1))
    assert (after["valid"], after["gap"]["gap_from"], after["gap"]["gap_to"]) == (
        False, (new_end + timedelta(days=1)).isoformat(), None)  # fmt: skip
    # The magistrate and the Immigration Office read it too; another centre learns nothing.
    assert (await stay(stage, case, decided, stage.magistrate))["valid"] is True
    assert (await stay(stage, case, decided, stage.immigration))["valid"] is True
    other = await stage.svc.client.get(f"/cases/{case}/residence/stay", headers=stage.as_("centre-surya",
                                                                                         "caseworker"))  # fmt: skip
    assert other.status_code == 404
    police = await stage.svc.client.get(f"/cases/{case}/residence/stay", headers=stage.as_("police-federal",
                                                                                          "officer"))  # fmt: skip
    assert police.status_code == 403


async def test_the_stay_of_an_eu_citizen_is_valid_without_a_procedure(stage: LegalStage) -> None:
    case = await stage.open_case(eu_citizen=True)
    answer = await stay(stage, case, stage.today - timedelta(days=400))
    assert (answer["valid"], answer["basis"], answer["procedure_open"]) == (True, "eu-free-movement", False)


async def test_an_invalid_day_is_a_422_naming_it(stage: LegalStage) -> None:
    case = await stage.open_case()
    response = await stage.svc.client.get(f"/cases/{case}/residence/stay", params={"on": "2026-02-30"},
                                          headers=stage.centre)  # fmt: skip
    assert response.status_code == 422 and "on" in response.text


def gauge(text: str) -> float:
    [value] = re.findall(r"^harbour_legal_persons_without_valid_stay (\S+)$", text, re.MULTILINE)
    return float(value)


async def test_the_gauge_counts_the_persons_without_valid_stay_today_as_the_calendar_moves(
    pg_server_url: str, running_broker: BrokerProcess
) -> None:
    async with legal_stage(pg_server_url, running_broker.bootstrap) as own:  # its own database and clock

        async def scraped() -> float:
            response = await own.svc.client.get("/metrics")
            assert response.status_code == 200
            assert not re.search(r"case-[0-9a-f]{10}", response.text)  # a count, never a case id
            return gauge(response.text)

        # A new service follows every case already on intake's topic (earlier tests' cases, without documents
        # here, so counted whatever the day): once it has caught up, the count moves only with this test's.
        opened_on_topic = {r.key for r in await read_topic(running_broker.bootstrap, "intake.events.v1")
                           if headers_of(r).get("event_type") == "CaseOpened"}  # fmt: skip

        async def caught_up() -> bool:
            async with own.svc.runtime.pool.acquire() as conn:
                return await conn.fetchval("SELECT count(*) FROM legal_cases") >= len(opened_on_topic)

        await wait_until(caught_up, timeout=60)
        base = await scraped()
        waiting = await own.open_case()  # procedure open, no Annex 15 yet: no valid stay
        assert await scraped() == base + 1
        await own.open_case(eu_citizen=True)  # free movement: never counted
        covered = await own.open_case()
        assert await scraped() == base + 2
        await own.issue(covered, "annex-15")
        ends = days_end(own.today, 45)
        assert await scraped() == base + 1
        own.clock.set(datetime.combine(ends, time(23, 30), tzinfo=BRUSSELS))
        assert await scraped() == base + 1  # its last day, to the end of the Brussels day
        # The calendar alone moves the count: past the Annex 15's end, before any timer has fired.
        own.clock.set(datetime.combine(ends + timedelta(days=1), time(0, 30), tzinfo=BRUSSELS))
        assert await scraped() == base + 2
        await own.move_to(ends + timedelta(days=1))  # the expiry fires: the same count, its lapse now recorded
        assert len(await own.events(covered, "StayLapsed")) == 1
        assert await scraped() == base + 2
        await own.ok(waiting, "residence/ending", {"reason": "stopped-cooperating"}, own.centre)
        assert await scraped() == base + 1  # an ended procedure is not counted
