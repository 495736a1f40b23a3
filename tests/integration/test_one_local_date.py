"""One local date (issue 13): every service dates a fact on the Brussels day, across midnight in winter and in
summer, and a timer due at 08:00 fires at 08:00 Brussels time on the days the clocks change (last Sunday of
March and of October 2026).

One platform with a manual clock for the module; the clock only moves forward, so the tests run in file order
(winter nights, the March change, summer nights, the October change). At 23:30 Brussels UTC still says the same
day; at 00:30 Brussels UTC says the previous day: a service dating in UTC dates the second fact a day early.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from harbour_tools.infra import BrokerProcess
from tests.support.waiting import wait_until
from tests.support.whole_case import PAYOKE, Case, Whole, whole_platform

BRUSSELS = ZoneInfo("Europe/Brussels")


@pytest.fixture(scope="module")
async def whole(pg_server_url: str, broker: BrokerProcess) -> AsyncIterator[Whole]:
    if not broker.is_running:
        broker.start()
    # Feeds only stores milestones: nothing here reads them.
    async with whole_platform(pg_server_url, broker.bootstrap, without=("feeds",)) as platform:
        yield platform


async def payloads(whole: Whole, service: str, case_id: str, event_type: str) -> list[dict[str, Any]]:
    rows = await whole.fetch(service, "SELECT payload::text AS p FROM events WHERE case_id = $1 AND event_type = $2 "
                             "ORDER BY global_position", case_id, event_type)  # fmt: skip
    return [json.loads(r["p"]) for r in rows]


async def facts_at(whole: Whole, moment_utc: datetime) -> dict[str, str]:
    """At ``moment_utc``: a case admitted (intake), its Annex 15 issued and a statement made (legal), the track
    taken into guidance (tracks), a bed assigned (housing). Returns the day each service dated its fact on."""
    whole.clock.set(moment_utc)
    case: Case = await whole.admit(PAYOKE)
    cid = case.case_id
    await whole.issue(case, "annex-15")
    await whole.legal(
        case,
        "proceedings/statements",
        {"kind": "complaint", "unit": "police-zone-antwerp", "report_number": "AN.55.L1.012345/2026"},
    )
    await whole.ok("tracks", f"/tracks/{cid}/phase", PAYOKE, "caseworker", {"to": "guidance"})
    placed = await whole.place(case)
    assert placed["status"] == "assigned", placed
    [opened] = await payloads(whole, "intake", cid, "CaseOpened")
    [reflection] = await payloads(whole, "legal", cid, "ReflectionPeriodStarted")
    [statement] = await payloads(whole, "legal", cid, "StatementMade")
    [phase] = await payloads(whole, "tracks", cid, "PhaseChanged")
    [bed] = await payloads(whole, "housing", cid, "BedAssigned")
    return {
        "intake.opened_on": opened["opened_on"],
        "legal.decided_on": reflection["decided_on"],
        "legal.made_on": statement["made_on"],
        "tracks.changed_on": phase["changed_on"],
        "housing.on": bed["on"],
    }


def on(day: date, facts: dict[str, str]) -> dict[str, str]:
    return dict.fromkeys(facts, day.isoformat())


async def test_a_fact_recorded_at_23_30_brussels_in_winter_is_dated_that_day_in_every_service(whole: Whole):
    facts = await facts_at(whole, datetime(2026, 1, 12, 22, 30, tzinfo=UTC))  # 23:30 Brussels (UTC+1)
    assert facts == on(date(2026, 1, 12), facts)


async def test_a_fact_recorded_at_00_30_brussels_in_winter_is_dated_the_brussels_day_not_the_utc_one(whole: Whole):
    facts = await facts_at(whole, datetime(2026, 1, 12, 23, 30, tzinfo=UTC))  # 00:30 Brussels on the 13th
    assert facts == on(date(2026, 1, 13), facts)


async def _reminder_firing_on(whole: Whole, day: date, utc_hour: int) -> None:
    """An Annex 15 whose 14-day reminder falls on ``day``: its timer is due at 08:00 Brussels (``utc_hour`` UTC),
    not fired a minute before, fired at 08:00."""
    issued_on = day - timedelta(days=30)  # 45 days of reflection: it ends on issued_on + 44, reminded 14 before
    whole.clock.set(datetime.combine(issued_on, time(9, 0), tzinfo=BRUSSELS))
    case = await whole.admit(PAYOKE)
    await whole.issue(case, "annex-15")
    ends = (await whole.residence(case, PAYOKE)).json()["current"]["ends_on"]
    assert date.fromisoformat(ends) - timedelta(days=14) == day
    rows = await whole.fetch("legal", "SELECT key, due_at FROM timers WHERE case_id = $1 AND key LIKE '%reminder-14'",
                             case.case_id)  # fmt: skip
    assert [r["due_at"] for r in rows] == [datetime.combine(day, time(utc_hour, 0), tzinfo=UTC)]
    # Every timer of every service is due at 08:00 Brussels on its day (legal's documents, tracks' reviews).
    for name in ("legal", "tracks", "housing", "intake"):
        if whole.services[name].runtime.timers is None:
            continue
        due = await whole.fetch(name, "SELECT due_at FROM timers WHERE case_id = $1", case.case_id)
        assert {r["due_at"].astimezone(BRUSSELS).time() for r in due} <= {time(8, 0)}, name

    async def reminders() -> int:
        return len(await payloads(whole, "legal", case.case_id, "DocumentExpiryReminderDue"))

    whole.clock.set(datetime.combine(day, time(utc_hour - 1, 59), tzinfo=UTC))  # 07:59 Brussels
    await whole.services["legal"].runtime.timers.run_due_once()
    await whole.timers_settled()
    assert await reminders() == 0
    whole.clock.set(datetime.combine(day, time(utc_hour, 0), tzinfo=UTC))  # 08:00 Brussels
    await whole.services["legal"].runtime.timers.run_due_once()
    await wait_until(lambda: _at_least_one(reminders), timeout=15)
    [reminder] = await payloads(whole, "legal", case.case_id, "DocumentExpiryReminderDue")
    assert reminder["due_on"] == day.isoformat()


async def _at_least_one(count) -> bool:
    return await count() >= 1


async def test_a_timer_due_at_08_00_fires_at_08_00_brussels_on_the_day_summer_time_begins(whole: Whole):
    await _reminder_firing_on(whole, date(2026, 3, 29), utc_hour=6)  # CEST: UTC+2 from 02:00 that night


async def test_a_fact_recorded_at_23_30_brussels_in_summer_is_dated_that_day_in_every_service(whole: Whole):
    facts = await facts_at(whole, datetime(2026, 6, 15, 21, 30, tzinfo=UTC))  # 23:30 Brussels (UTC+2)
    assert facts == on(date(2026, 6, 15), facts)


async def test_a_fact_recorded_at_00_30_brussels_in_summer_is_dated_the_brussels_day_not_the_utc_one(whole: Whole):
    facts = await facts_at(whole, datetime(2026, 6, 15, 22, 30, tzinfo=UTC))  # 00:30 Brussels on the 16th
    assert facts == on(date(2026, 6, 16), facts)


async def test_a_timer_due_at_08_00_fires_at_08_00_brussels_on_the_day_summer_time_ends(whole: Whole):
    await _reminder_firing_on(whole, date(2026, 10, 25), utc_hour=7)  # CET again: UTC+1 from 03:00 that night


async def test_no_request_of_the_module_was_answered_with_a_server_error(whole: Whole):
    assert whole.server_errors() == []
