"""Minority as a case fact: intake's MinorityEstablished / MinorityDisproved on intake.events.v1, consumed by the
real legal service through its inbox, extend a running Annex 15 (timers moved, a milestone) or change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiokafka import AIOKafkaProducer

from schemas.intake import MinorFlagReason, MinorityDisproved, MinorityEstablished, MinorKind
from schemas.legal import ReflectionPeriodExtended
from services.legal.rules import days_end, months_end
from tests.integration.test_legal_stay import assert_no_personal_data, wait_for_milestones
from tests.support.kafka import headers_of, read_topic
from tests.support.legal_harness import (
    LegalStage,
    shared_legal_stage,  # noqa: F401 - the module-wide service
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
BASIS = MinorFlagReason.AGE_ASSESSMENT


@pytest.fixture(scope="module")
def stage(legal_stage_for_session: LegalStage) -> LegalStage:
    return legal_stage_for_session


async def publish(stage: LegalStage, case: str, fact: MinorityEstablished | MinorityDisproved) -> None:
    await stage.intake.publish(f"case-{case}", case, [fact])


async def recorded(stage: LegalStage, case: str, count: int) -> list:
    async def arrived() -> bool:
        return len(await stage.events(case, "MinorityRecorded")) >= count

    await wait_until(arrived, timeout=60)
    return await stage.events(case, "MinorityRecorded")


async def test_an_unaccompanied_minor_established_during_the_annex_15_extends_it_and_moves_its_timers(
    stage: LegalStage,
) -> None:
    case = await stage.open_case()
    await stage.issue(case, "annex-15")
    start = stage.today
    old_end, new_end = days_end(start, 45), months_end(start, 3)
    assert all(old_end.isoformat() in key for key in await stage.pending_timers(case))
    await stage.move_by(10)
    await publish(stage, case, MinorityEstablished(case_id=case, kind=MinorKind.UNACCOMPANIED, basis=BASIS,
                                                   established_on=stage.today))  # fmt: skip
    [fact] = await recorded(stage, case, 1)
    assert (fact.minor, fact.effect) == ("unaccompanied", "reflection-extended")
    assert await stage.events(case, "ReflectionPeriodExtended") == [ReflectionPeriodExtended(
        case_id=case, starts_on=start, previous_ends_on=old_end, ends_on=new_end, extended_on=stage.today)]  # fmt: skip
    timers = await stage.pending_timers(case)
    assert len(timers) == 3 and all(new_end.isoformat() in key for key in timers)  # 14 and 3 days, the expiry
    status = await stage.residence(case)
    assert status["current"]["ends_on"] == new_end.isoformat() and status["unaccompanied_minor"] is True
    assert status["next_deadline"]["due_on"] == new_end.isoformat()

    found = await wait_for_milestones(stage, case, "reflection-period-extended",
                                      ("centre-payoke", "guardianship-service", "immigration-office"))  # fmt: skip
    for audience, milestones in found.items():
        [milestone] = milestones
        assert milestone.data["ends_on"] == new_end.isoformat()
        assert milestone.data["previous_ends_on"] == old_end.isoformat(), audience
        assert_no_personal_data(milestone, case)

    # The old end passes quietly; the new one expires once, and the guardian hears of the lapse too.
    await stage.move_to(old_end + timedelta(days=1))
    assert await stage.events(case, "DocumentExpired") == []
    await stage.move_to(new_end + timedelta(days=1))
    assert [e.ends_on for e in await stage.events(case, "StayLapsed")] == [new_end]
    lapsed = await wait_for_milestones(stage, case, "stay-lapsed", ("centre-payoke", "guardianship-service"))
    for [milestone] in lapsed.values():
        assert_no_personal_data(milestone, case)


async def test_disproving_minority_does_not_shorten_a_three_month_annex_15(stage: LegalStage) -> None:
    case = await stage.open_case(minor=True)
    await stage.issue(case, "annex-15")
    end = months_end(stage.today, 3)
    timers = await stage.pending_timers(case)
    await publish(stage, case, MinorityDisproved(case_id=case, basis=BASIS, disproved_on=stage.today))
    [fact] = await recorded(stage, case, 1)
    assert (fact.minor, fact.effect) == (None, "none")
    assert (await stage.residence(case))["current"]["ends_on"] == end.isoformat()
    assert await stage.pending_timers(case) == timers
    assert await stage.events(case, "ReflectionPeriodExtended") == []


async def test_an_accompanied_minor_keeps_the_45_days(stage: LegalStage) -> None:
    case = await stage.open_case()
    await stage.issue(case, "annex-15")
    await publish(stage, case, MinorityEstablished(case_id=case, kind=MinorKind.ACCOMPANIED, basis=BASIS,
                                                   established_on=stage.today))  # fmt: skip
    [fact] = await recorded(stage, case, 1)
    assert (fact.minor, fact.effect) == ("accompanied", "none")
    assert (await stage.residence(case))["current"]["ends_on"] == days_end(stage.today, 45).isoformat()


async def test_a_minor_established_before_the_annex_15_gets_three_months_when_it_is_issued(stage: LegalStage) -> None:
    case = await stage.open_case()
    await publish(stage, case, MinorityEstablished(case_id=case, kind=MinorKind.UNACCOMPANIED,
                                                   basis=MinorFlagReason.IDENTITY_DOCUMENT,
                                                   established_on=stage.today))  # fmt: skip
    [fact] = await recorded(stage, case, 1)
    assert fact.effect == "first-annex-15"
    await stage.issue(case, "annex-15")
    assert (await stage.residence(case))["current"]["ends_on"] == months_end(stage.today, 3).isoformat()


async def test_a_redelivered_minority_established_has_one_effect(stage: LegalStage) -> None:
    case = await stage.open_case()
    await stage.issue(case, "annex-15")
    await publish(stage, case, MinorityEstablished(case_id=case, kind=MinorKind.UNACCOMPANIED, basis=BASIS,
                                                   established_on=stage.today))  # fmt: skip
    await recorded(stage, case, 1)
    bootstrap = stage.svc.runtime.endpoints.bootstrap
    [original] = [r for r in await read_topic(bootstrap, "intake.events.v1")
                  if r.key == case.encode() and headers_of(r).get("event_type") == "MinorityEstablished"]  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:  # the very same record again (same event id), on its partition
        await producer.send_and_wait("intake.events.v1", original.value, key=original.key,
                                     partition=original.partition, headers=list(original.headers))  # fmt: skip
    finally:
        await producer.stop()
    # A later fact on the same partition: once it is applied, the redelivery before it has been seen.
    await publish(stage, case, MinorityDisproved(case_id=case, basis=BASIS, disproved_on=stage.today))
    facts = await recorded(stage, case, 2)
    assert [f.minor for f in facts] == ["unaccompanied", None]
    assert len(await stage.events(case, "ReflectionPeriodExtended")) == 1
    found = await wait_for_milestones(stage, case, "reflection-period-extended", ("centre-payoke",))
    assert len(found["centre-payoke"]) == 1
