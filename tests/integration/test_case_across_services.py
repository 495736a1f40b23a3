"""One case across every service (issue 13): the whole platform in one process on one real broker, a case driven
through the real HTTP APIs, and transfers that move all of it.

Scenarios:
1. admitted at Payoke and taken through the residence procedure (Annex 15, statement, attestation, A-card with the
   magistrate's opinion), a track and a shelter placement: Payoke alone acts on every part;
2. moved mid-procedure Payoke → Sürya with the A-card's reminder falling due during the hand-over (requested, the
   clock moved, the timer fired, then accepted), then Sürya → PAG-ASA: after each step exactly the holder acts on
   intake, legal, tracks and housing, a former centre gets 403 and reads only its own period, a stranger 404, the
   reminder's milestone went to the centre that held the case when it fell due, the renewal's to the new holder;
3. a declined transfer leaves every part with the original centre, the centre that declined learns nothing;
4. a reminder falls due in legal after tracks accepted a transfer but before legal applied it (legal's consumers
   stalled): its milestone goes to exactly one centre, and the deadline is the receiving centre's from then on;
5. an attestation lapses after a transfer: the stay-lapsed milestone goes to the new holder, the prosecution office
   and the Immigration Office, never to the former centre;
6. the receiving centre establishes an unaccompanied minor during the Annex 15: the former centre's attempt is a
   403, a stranger's a 404, the reflection period lasts three months from its start, and the extension's milestone
   goes to the new holder, the Guardianship Service and the Immigration Office; disproved later, it stays;
7. two transfers accepted back to back while intake, legal and housing have applied neither: the last centre acts,
   both former ones get 403 and still read (their periods);
8. the issue's implausible facts, and an opinion dated 2001 that nobody asked for: each a 422 naming the field;
9. a centre that held the case twice reads up to its last hand-over, nothing after;
10. a former holder's command in flight at the hand-over commits before it or is refused (intake, legal, housing);
11. a minor's extended reflection reaches the Guardianship Service even when legal's audiences consumer lags;
12. the receiving centre's first act after the hand-over is told to it, not to the former centre, even when the
    service's audiences consumer lags behind its custody consumer (legal, housing);
and no answer of any service was a 500.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from harbour_tools.contracts import SCHEMAS_DIR
from harbour_tools.infra import BrokerProcess
from schemas.housing import NETWORK_KEY
from schemas.intake import PERSON_KEY, REFERRAL_KEY
from tests.support import platform_load
from tests.support.kafka import headers_of, read_topic, read_topics
from tests.support.waiting import wait_until
from tests.support.whole_case import (
    CENTRES,
    GUARDIANSHIP,
    IMMIGRATION,
    MAY_ACT,
    MAY_NOT_ACT,
    OFFICE,
    PAG_ASA,
    PARTS,
    PAYOKE,
    PURPOSE,
    SURYA,
    Case,
    Whole,
    days,
    whole_platform,
)


@pytest.fixture(scope="module")
async def whole(pg_server_url: str, broker: BrokerProcess) -> AsyncIterator[Whole]:
    if not broker.is_running:
        broker.start()
    async with whole_platform(pg_server_url, broker.bootstrap) as platform:
        yield platform
        assert platform.server_errors() == [], "a service answered 500"


def months_later(day: date, months: int) -> date:
    """The same day ``months`` later (the 31st of a shorter month is its last day)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError(day)


def holders(acting: dict[str, dict[str, int]]) -> dict[str, list[str]]:
    """Per part, the centres whose probe passed access (whatever the domain then said)."""
    unexpected = {p: s for p, by in acting.items() for c, s in by.items() if s not in MAY_ACT | MAY_NOT_ACT}
    assert not unexpected, f"a probe answered neither 'may act' nor 'may not': {acting}"
    return {part: [c for c, s in by.items() if s in MAY_ACT] for part, by in acting.items()}


def only(centre: str) -> dict[str, list[str]]:
    return {part: [centre] for part in PARTS}


async def case_in_procedure(whole: Whole) -> tuple[Case, date]:
    """A case admitted at Payoke today, with an A-card issued 40 days later; returns it and the card's last day."""
    case = await whole.admit(PAYOKE)
    await whole.issue(case, "annex-15")
    await whole.ok("tracks", f"/tracks/{case.case_id}/sessions", PAYOKE, "caseworker",
                   {"held_on": whole.today.isoformat(), "area": "juridical", "kind": "conversation",
                    "duration_minutes": 45, "attended": True}, expect=201)  # fmt: skip
    placed = await whole.place(case)
    assert placed["status"] == "assigned", placed
    await whole.move_to(whole.today + days(10))
    await whole.statement_and_file(case)
    await whole.issue(case, "attestation-of-immatriculation")
    await whole.move_to(whole.today + days(30))
    await whole.opinion(case)
    await whole.issue(case, "a-card")
    status = (await whole.residence(case, PAYOKE)).json()
    assert status["current"]["document"] == "a-card" and status["stay_valid_today"], status
    return case, date.fromisoformat(status["current"]["ends_on"])


async def test_an_admitted_case_in_its_residence_procedure_track_and_shelter_is_acted_on_by_its_centre_alone(
    whole: Whole,
):
    case, _ = await case_in_procedure(whole)
    assert holders(await whole.acting(case)) == only(PAYOKE)
    reads = await whole.reads(case, PAYOKE)
    assert set(reads.values()) == {200}, reads
    stranger = await whole.reads(case, SURYA)
    assert set(stranger.values()) == {404}, stranger
    assert (await whole.read_person(case, PAYOKE), await whole.read_person(case, SURYA)) == (200, 404)
    assert [d["case_id"] for d in await whole.deadlines(PAYOKE) if d["case_id"] == case.case_id]
    assert not [d for d in await whole.deadlines(SURYA) if d["case_id"] == case.case_id]


async def _reminder_milestones(whole: Whole, case: Case) -> list[list[str]]:
    """For each reminder legal recorded for the case, the centres its milestone went to (waits until each went
    somewhere, bounded: a reminder to nobody fails the assertion that follows, not the wait)."""
    ids = await whole.event_ids("legal", case, "DocumentExpiryReminderDue")
    found: list[list[str]] = [[] for _ in ids]

    async def delivered() -> bool:
        for n, event_id in enumerate(ids):
            found[n] = await whole.milestone_audiences(event_id)
        return all(found)

    try:
        await wait_until(delivered, timeout=25)
    except TimeoutError:
        pass
    return found


async def test_a_whole_case_moved_mid_procedure_with_a_reminder_due_during_the_hand_over_then_moved_again(
    whole: Whole,
):
    case, ends_on = await case_in_procedure(whole)
    cid = case.case_id

    # Payoke asks Sürya to take the case 20 days before the A-card ends; Sürya answers only after the 14-day
    # reminder fell due. Meanwhile the case is Payoke's alone, in every service.
    await whole.move_to(ends_on - days(20))
    assert (await whole.request_transfer(case, SURYA)).status_code == 200
    assert holders(await whole.acting(case)) == only(PAYOKE)
    assert set((await whole.reads(case, SURYA)).values()) <= {403, 404}

    await whole.move_to(ends_on - days(14))
    reminders = await _reminder_milestones(whole, case)
    assert len(reminders) == 1, reminders  # the 14-day reminder of the A-card
    assert reminders == [[PAYOKE]], "the reminder due during the hand-over went to the centre holding the case"

    handed_over = (await whole.call("legal", "GET", f"/cases/{cid}/proceedings", PAYOKE, "caseworker")).json()
    response = await whole.answer_transfer(case, SURYA, "accept")
    assert response.status_code == 200, response.text
    case.holder = SURYA
    case.history.append(SURYA)
    applied = await whole.applied(case)
    assert set(applied.values()) == {SURYA}, f"the transfer was not applied everywhere: {applied}"

    # Sürya now owns every part; Payoke knows the case (403), PAG-ASA does not (404).
    acting = await whole.acting(case)
    assert holders(acting) == only(SURYA)
    assert {p: by[PAYOKE] for p, by in acting.items()} == dict.fromkeys(PARTS, 403)
    assert {p: by[PAG_ASA] for p, by in acting.items()} == dict.fromkeys(PARTS, 404)

    # Sürya reads the intake file and the identity (audited with its purpose), the residence file, the track, the
    # housing; its deadline list holds the A-card's end, Payoke's no longer does.
    reads = await whole.reads(case, SURYA)
    assert set(reads.values()) == {200}, reads
    assert await whole.read_person(case, SURYA) == 200
    assert await whole.read_person(case, PAG_ASA) == 404
    former_reads = await whole.reads(case, PAYOKE)
    assert set(former_reads.values()) == {200}, f"the former centre reads its own period: {former_reads}"
    audit = await whole.call("intake", "GET", f"/persons/{case.person_id}/reads", SURYA, "manager")
    assert audit.status_code == 200, audit.text
    assert audit.json()["next"] is None  # one page holds them all: none is left unread
    assert [r for r in audit.json()["items"] if r["org"] == SURYA and r["purpose"] == PURPOSE["Harbour-Purpose"]]
    assert [d["due_on"] for d in await whole.deadlines(SURYA) if d["case_id"] == cid
            and d["kind"] == "document-expiry"] == [ends_on.isoformat()]  # fmt: skip
    assert not [d for d in await whole.deadlines(PAYOKE) if d["case_id"] == cid]
    assert set((await whole.reads(case, PAG_ASA)).values()) == {404}
    # The caseloads follow: intake's case list and the track's "unassigned" caseload are the holder's now.
    assert [await _in_case_list(whole, c, cid) for c in CENTRES] == [False, False, True]
    caseloads = []
    for centre in CENTRES:
        load = await whole.call("tracks", "GET", "/caseload?caseworker_id=unassigned&limit=500", centre, "manager")
        assert load.json()["next"] is None  # one page holds them all: none is left unread
        caseloads.append(cid in [t["case_id"] for t in load.json()["items"]])
    assert caseloads == [False, False, True]

    # The magistrate and the Immigration Office learn which centre to deal with now.
    [accepted] = await whole.event_ids("tracks", case, "TransferAccepted")
    everyone = (*CENTRES, OFFICE, IMMIGRATION, GUARDIANSHIP)
    await wait_until(lambda: _went_to(whole, accepted, everyone, at_least=3), timeout=25)
    assert await whole.milestone_audiences(accepted, everyone) == [SURYA, OFFICE, IMMIGRATION]

    # The next reminder, due after the hand-over, is the receiving centre's.
    await whole.move_to(ends_on - days(3))
    assert await _reminder_milestones(whole, case) == [[PAYOKE], [SURYA]]

    # Sürya acts: the renewal of the A-card on the magistrate's confirmation, a session, a move out of the shelter
    # still at Payoke's (the placement stayed where it was until moved).
    await whole.opinion(case, step="a-card-renewal")
    await whole.issue(case, renewal=True)
    renewed = (await whole.residence(case, SURYA)).json()
    assert renewed["current"]["renewals"] == 1, renewed
    [renewal] = await whole.event_ids("legal", case, "DocumentRenewed")
    await wait_until(lambda: _went_to(whole, renewal), timeout=25)
    assert await whole.milestone_audiences(renewal) == [SURYA], "the renewal's milestone goes to the new holder"
    await whole.ok("tracks", f"/tracks/{cid}/sessions", SURYA, "caseworker",
                   {"held_on": whole.today.isoformat(), "area": "housing", "kind": "conversation",
                    "duration_minutes": 30, "attended": True}, expect=201)  # fmt: skip
    moved = await whole.ok("housing", f"/housing/cases/{cid}/moves", SURYA, "caseworker", {"to": "transitional"})
    assert moved["stage"] == "transitional"

    # The former centre reads its own period only: the A-card as it handed it over, no renewal, no move.
    after_end = (ends_on + days(10)).isoformat()
    stay = {c: (await whole.call("legal", "GET", f"/cases/{cid}/residence/stay?on={after_end}", c, "caseworker")).json()
            for c in (PAYOKE, SURYA)}  # fmt: skip
    assert (stay[SURYA]["valid"], stay[SURYA]["as_of"]) == (True, None), stay
    assert stay[PAYOKE]["valid"] is False and stay[PAYOKE]["as_of"] is not None, stay  # the file as handed over
    former = await whole.residence(case, PAYOKE)
    assert former.status_code == 200, former.text
    assert former.json()["current"]["renewals"] == 0 and former.json()["pending_request"] is None, former.json()
    history = await whole.call("housing", "GET", f"/housing/cases/{cid}/history", PAYOKE, "caseworker")
    assert history.status_code == 200, history.text
    entries = history.json()["items"]
    assert [e["to"] for e in entries if e["event_type"] == "PersonMoved"] == ["shelter"], entries
    assert "BedAssigned" in [e["event_type"] for e in entries]
    proceedings = {c: (await whole.call("legal", "GET", f"/cases/{cid}/proceedings", c, "caseworker")).json()
                   for c in (PAYOKE, SURYA)}  # fmt: skip
    assert (proceedings[PAYOKE]["version"], proceedings[PAYOKE]["summary"]) == (
        handed_over["version"],
        handed_over["summary"],
    ), "the renewal's confirmation came after Payoke's period"
    assert proceedings[SURYA]["version"] > handed_over["version"]
    sessions = {}
    for centre in (PAYOKE, SURYA):
        timeline = await whole.call("tracks", "GET", f"/tracks/{cid}/timeline", centre, "caseworker")
        assert timeline.status_code == 200, timeline.text
        sessions[centre] = [e for e in timeline.json()["items"] if e["event_type"] == "SessionRecorded"]
    assert (len(sessions[PAYOKE]), len(sessions[SURYA])) == (1, 2), sessions

    # Moved again, Sürya → PAG-ASA: PAG-ASA alone acts; Payoke and Sürya each read their own period.
    await whole.move_to(whole.today + days(7))
    await whole.transfer(case, PAG_ASA)
    assert set(case.history) == set(CENTRES) and case.holder == PAG_ASA
    acting = await whole.acting(case)
    assert holders(acting) == only(PAG_ASA)
    assert {p: (by[PAYOKE], by[SURYA]) for p, by in acting.items()} == dict.fromkeys(PARTS, (403, 403))
    assert set((await whole.reads(case, PAG_ASA)).values()) == {200}
    assert await whole.read_person(case, PAG_ASA) == 200
    await whole.ok(
        "housing",
        f"/housing/cases/{cid}/moves",
        PAG_ASA,
        "caseworker",
        {"to": "independent", "address": "Rue du Test 5, 1000 Bruxelles"},
    )
    for former_centre in (PAYOKE, SURYA):
        response = await whole.call("housing", "GET", f"/housing/cases/{cid}/history", former_centre, "caseworker")
        assert response.status_code == 200, (former_centre, response.text)
        moves = [e["to"] for e in response.json()["items"] if e["event_type"] == "PersonMoved"]
        assert moves == (["shelter"] if former_centre == PAYOKE else ["shelter", "transitional"]), moves
    residence = await whole.residence(case, SURYA)
    assert residence.status_code == 200 and residence.json()["current"]["renewals"] == 1, residence.text
    assert [d for d in await whole.deadlines(PAG_ASA) if d["case_id"] == cid]
    assert not [d for d in await whole.deadlines(SURYA) if d["case_id"] == cid]
    # The Immigration Office still decides on the case wherever it is (national scope), never a 500.
    assert (await whole.call("legal", "GET", f"/cases/{cid}/residence", IMMIGRATION, "officer")).status_code == 200
    assert whole.server_errors() == []


async def _in_case_list(whole: Whole, centre: str, case_id: str) -> bool:
    response = await whole.call("intake", "GET", "/cases?limit=200", centre, "caseworker")
    assert response.status_code == 200, response.text
    return case_id in [c["case_id"] for c in response.json()["items"]]


async def _went_to(whole: Whole, event_id: UUID, audiences: tuple[str, ...] = CENTRES, at_least: int = 1) -> bool:
    return len(await whole.milestone_audiences(event_id, audiences)) >= at_least


def consumers_stalled(whole: Whole, services: tuple[str, ...]) -> AbstractAsyncContextManager[None]:
    """The consumers of ``services`` lag while this is held (platform_load.consumers_stalled: inboxes locked)."""
    return platform_load.consumers_stalled(whole.services, services)


def legal_consumers_stalled(whole: Whole) -> AbstractAsyncContextManager[None]:
    return consumers_stalled(whole, ("legal",))


async def test_a_declined_transfer_leaves_every_part_of_the_case_with_the_original_centre(whole: Whole):
    case = await whole.admit(PAYOKE)
    await whole.issue(case, "annex-15")
    assert (await whole.place(case))["status"] == "assigned"
    assert (await whole.request_transfer(case, PAG_ASA)).status_code == 200
    declined = await whole.answer_transfer(case, PAG_ASA, "decline")
    assert declined.status_code == 200, declined.text
    # Any transfer of another case applied everywhere after the decline: the consumers have read past it.
    other = await whole.admit(PAYOKE)
    await whole.transfer(other, SURYA)
    assert holders(await whole.acting(case)) == only(PAYOKE)
    assert set((await whole.reads(case, PAYOKE)).values()) == {200}
    assert set((await whole.reads(case, PAG_ASA)).values()) == {404}, "the centre that declined learns nothing"
    assert (await whole.custody_of(case)) == dict.fromkeys(("intake", "legal", "housing"), PAYOKE)
    # And the case's next milestone still goes to Payoke alone.
    await whole.statement_and_file(case)
    [statement] = await whole.event_ids("legal", case, "StatementMade")
    await wait_until(lambda: _went_to(whole, statement), timeout=25)
    assert await whole.milestone_audiences(statement) == [PAYOKE]
    assert whole.server_errors() == []


async def test_a_reminder_due_while_legal_has_not_yet_applied_an_accepted_transfer_goes_to_one_centre_never_nobody(
    whole: Whole,
):
    case = await whole.admit(PAYOKE)
    await whole.statement_and_file(case)
    issued = await whole.issue(case, "attestation-of-immatriculation")
    assert issued["events"] == ["DocumentIssued"], issued
    ends_on = date.fromisoformat((await whole.residence(case, PAYOKE)).json()["current"]["ends_on"])
    await whole.move_to(ends_on - days(15))
    assert (await whole.request_transfer(case, SURYA)).status_code == 200
    # Legal's consumers stall (its inbox locked): tracks accepts, the reminder falls due in legal before legal
    # has applied the acceptance. Its milestone goes to exactly one centre, never to nobody.
    async with legal_consumers_stalled(whole):
        accepted = await whole.answer_transfer(case, SURYA, "accept")
        assert accepted.status_code == 200, accepted.text
        await whole.move_to(ends_on - days(14))
        reminders = await _reminder_milestones(whole, case)
    assert len(reminders) == 1 and len(reminders[0]) == 1 and reminders[0][0] in (PAYOKE, SURYA), reminders
    case.holder = SURYA
    case.history.append(SURYA)
    applied = await whole.applied(case)
    assert set(applied.values()) == {SURYA}, applied
    assert holders(await whole.acting(case)) == only(SURYA)
    # The deadline is the receiving centre's from the hand-over: its list holds it, the former's does not.
    assert [d["due_on"] for d in await whole.deadlines(SURYA) if d["case_id"] == case.case_id] == [ends_on.isoformat()]
    assert not [d for d in await whole.deadlines(PAYOKE) if d["case_id"] == case.case_id]


async def test_a_document_that_lapses_after_a_transfer_tells_the_new_holder_the_office_and_the_immigration_office(
    whole: Whole,
):
    case = await whole.admit(PAYOKE)
    await whole.statement_and_file(case)
    await whole.issue(case, "attestation-of-immatriculation")
    ends_on = date.fromisoformat((await whole.residence(case, PAYOKE)).json()["current"]["ends_on"])
    await whole.move_to(whole.today + days(5))
    await whole.transfer(case, SURYA)
    await whole.move_to(ends_on + days(1))  # no renewal requested: the attestation lapses
    [lapse] = await whole.event_ids("legal", case, "StayLapsed")
    audiences = (PAYOKE, PAG_ASA, SURYA, OFFICE, IMMIGRATION)
    await wait_until(lambda: _went_to(whole, lapse, audiences, at_least=3), timeout=25)
    assert await whole.milestone_audiences(lapse, audiences) == [SURYA, OFFICE, IMMIGRATION]
    status = (await whole.residence(case, SURYA)).json()
    assert status["stay_valid_today"] is False, status


async def test_a_minority_established_by_the_receiving_centre_extends_the_running_annex_15_and_tells_that_centre(
    whole: Whole,
):
    case = await whole.admit(PAYOKE)
    await whole.issue(case, "annex-15")
    started = (await whole.residence(case, PAYOKE)).json()["current"]
    await whole.move_to(whole.today + days(5))
    await whole.transfer(case, SURYA)
    body = {"kind": "unaccompanied", "basis": "identity-document"}
    former = await whole.call("intake", "POST", f"/cases/{case.case_id}/minority", PAYOKE, "caseworker", body)
    assert former.status_code == 403, former.text
    stranger = await whole.call("intake", "POST", f"/cases/{case.case_id}/minority", PAG_ASA, "caseworker", body)
    assert stranger.status_code == 404, stranger.text
    await whole.ok("intake", f"/cases/{case.case_id}/minority", SURYA, "caseworker", body)

    async def extended() -> bool:
        return bool(await whole.event_ids("legal", case, "ReflectionPeriodExtended"))

    await wait_until(extended, timeout=20)
    current = (await whole.residence(case, SURYA)).json()["current"]
    three_months = months_later(date.fromisoformat(started["starts_on"]), 3) - days(1)
    assert (current["starts_on"], current["ends_on"]) == (started["starts_on"], three_months.isoformat())
    [extension] = await whole.event_ids("legal", case, "ReflectionPeriodExtended")
    audiences = (PAYOKE, PAG_ASA, SURYA, GUARDIANSHIP, IMMIGRATION)
    await wait_until(lambda: _went_to(whole, extension, audiences, at_least=3), timeout=25)
    assert await whole.milestone_audiences(extension, audiences) == [SURYA, GUARDIANSHIP, IMMIGRATION]
    # Intake refers the minor to the Guardianship Service; the centre told is the one holding the case.
    [referral] = await whole.event_ids("intake", case, "GuardianshipReferralRequested")
    await wait_until(lambda: _went_to(whole, referral, audiences, at_least=2), timeout=25)
    assert await whole.milestone_audiences(referral, audiences) == [SURYA, GUARDIANSHIP]
    # An age assessment then finds an adult: the Annex 15 already extended is not shortened.
    await whole.ok("intake", f"/cases/{case.case_id}/minority/disproved", SURYA, "caseworker",
                   {"basis": "caseworker-assessment"})  # fmt: skip

    async def disproved() -> bool:  # legal records each minority fact it applies (established, then disproved)
        return len(await whole.event_ids("legal", case, "MinorityRecorded")) >= 2

    await wait_until(disproved, timeout=20)
    assert (await whole.residence(case, SURYA)).json()["current"]["ends_on"] == three_months.isoformat()
    assert whole.server_errors() == []


async def test_two_transfers_accepted_before_any_service_applied_the_first_leave_the_last_centre_acting(
    whole: Whole,
):
    case = await whole.admit(PAYOKE)
    await whole.issue(case, "annex-15")
    assert (await whole.place(case))["status"] == "assigned"
    async with consumers_stalled(whole, ("intake", "legal", "housing")):
        for to in (SURYA, PAG_ASA):
            assert (await whole.request_transfer(case, to)).status_code == 200
            assert (await whole.answer_transfer(case, to, "accept")).status_code == 200
            case.holder = to
            case.history.append(to)
    applied = await whole.applied(case)
    assert set(applied.values()) == {PAG_ASA}, applied
    acting = await whole.acting(case)
    assert holders(acting) == only(PAG_ASA)
    assert {p: (by[PAYOKE], by[SURYA]) for p, by in acting.items()} == dict.fromkeys(PARTS, (403, 403))
    assert set((await whole.reads(case, SURYA)).values()) == {200}, "a former holder, however brief its period"
    assert whole.server_errors() == []


async def test_implausible_facts_are_refused_in_every_service_with_a_422_naming_the_field_and_nothing_recorded(
    whole: Whole,
):
    """The issue's trials on 0567e24, over the whole case: each was accepted then; each must be a 422 now."""
    case = await whole.admit(PAYOKE)
    cid = case.case_id
    await whole.issue(case, "annex-15")
    assert (await whole.place(case))["status"] == "assigned"
    await whole.statement_and_file(case)
    await whole.issue(case, "attestation-of-immatriculation")
    counts = {name: await whole.fetchval(name, "SELECT count(*) FROM events") for name in PARTS}
    trials = {
        "statement dated 2001": ("legal", f"/cases/{cid}/proceedings/statements", PAYOKE, "caseworker",
                                 {"kind": "complaint", "unit": "police-zone-antwerp",
                                  "report_number": "AN.55.L1.099999/2026", "on": "2001-03-01"}, "on"),
        "verdict dated 2019": ("legal", f"/cases/{cid}/proceedings/verdicts", OFFICE, "magistrate",
                               {"court": "criminal-court-antwerp", "instance": "first-instance", "on": "2019-06-01",
                                "defendants": [{"defendant": "defendant-1", "outcome": "acquitted"}]}, "on"),
        "opinion dated 2001, none requested": ("legal", f"/cases/{cid}/proceedings/opinions", OFFICE, "magistrate",
                                               {"step": "a-card-initial", "outcome": "victim", "on": "2001-01-01"},
                                               "on"),
        "file for prosecution-atlantis": ("legal", f"/cases/{cid}/proceedings/file", PAYOKE, "caseworker",
                                          {"office": "prosecution-atlantis", "file_number": "AT.1/26"}, "office"),
        "attestation renewed the day it was issued": ("legal", f"/cases/{cid}/residence/renewal-requests", PAYOKE,
                                                      "caseworker", {}, None),
        "move dated 1999": ("housing", f"/housing/cases/{cid}/moves", PAYOKE, "caseworker",
                            {"to": "transitional", "on": "1999-05-01"}, "on"),
        "move dated 2035": ("housing", f"/housing/cases/{cid}/moves", PAYOKE, "caseworker",
                            {"to": "transitional", "on": "2035-05-01"}, "on"),
        "session held in 2001": ("tracks", f"/tracks/{cid}/sessions", PAYOKE, "caseworker",
                                 {"held_on": "2001-01-01", "area": "juridical", "kind": "conversation",
                                  "duration_minutes": 30, "attended": True}, "held_on"),
        "minority established in 2001": ("intake", f"/cases/{cid}/minority", PAYOKE, "caseworker",
                                         {"kind": "unaccompanied", "basis": "identity-document", "on": "2001-01-01"},
                                         "on"),
    }  # fmt: skip
    answers = {}
    for name, (service, path, org, role, body, field) in trials.items():
        response = await whole.call(service, "POST", path, org, role, body)
        problem = response.json()
        answers[name] = (response.status_code, problem.get("field") if field else None)
        if name == "file for prosecution-atlantis":
            assert OFFICE in (problem.get("allowed") or []), problem
    assert answers == {name: (422, trial[-1]) for name, trial in trials.items()}
    assert {name: await whole.fetchval(name, "SELECT count(*) FROM events") for name in PARTS} == counts


async def session(whole: Whole, case: Case) -> None:
    await whole.ok("tracks", f"/tracks/{case.case_id}/sessions", case.holder, "caseworker",
                   {"held_on": whole.today.isoformat(), "area": "housing", "kind": "conversation",
                    "duration_minutes": 30, "attended": True}, expect=201)  # fmt: skip


async def test_a_centre_that_held_the_case_twice_reads_up_to_its_last_hand_over_and_nothing_after(whole: Whole):
    """Payoke → Sürya → Payoke → PAG-ASA. A former holder reads what it could read while it held the case, up to
    its last hand-over (the history it received included: the custody contract's promise), nothing after."""
    case = await whole.admit(PAYOKE)
    cid = case.case_id
    await whole.issue(case, "annex-15")
    assert (await whole.place(case))["status"] == "assigned"
    await whole.transfer(case, SURYA)
    await whole.legal(
        case,
        "proceedings/statements",
        {"kind": "complaint", "unit": "police-zone-liege", "report_number": "LG.20.L1.000777/2026"},
    )
    await session(whole, case)
    await whole.transfer(case, PAYOKE)
    await whole.ok("housing", f"/housing/cases/{cid}/moves", PAYOKE, "caseworker", {"to": "transitional"})
    await session(whole, case)
    await whole.transfer(case, PAG_ASA)
    await session(whole, case)
    await whole.ok("housing", f"/housing/cases/{cid}/moves", PAG_ASA, "caseworker",
                   {"to": "independent", "address": "Rue du Test 5, 4000 Liège"})  # fmt: skip
    await whole.legal(
        case,
        "proceedings/statements",
        {"kind": "statement", "unit": "police-zone-liege", "report_number": "LG.20.L1.000778/2026"},
    )
    acting = await whole.acting(case)
    assert holders(acting) == only(PAG_ASA)
    assert {p: (by[PAYOKE], by[SURYA]) for p, by in acting.items()} == dict.fromkeys(PARTS, (403, 403))

    seen: dict[str, tuple[int, int, int]] = {}
    for centre in (PAYOKE, SURYA, PAG_ASA):
        proceedings = await whole.call("legal", "GET", f"/cases/{cid}/proceedings", centre, "caseworker")
        housing = await whole.call("housing", "GET", f"/housing/cases/{cid}/history", centre, "caseworker")
        timeline = await whole.call("tracks", "GET", f"/tracks/{cid}/timeline", centre, "caseworker")
        assert (proceedings.status_code, housing.status_code, timeline.status_code) == (200, 200, 200), centre
        summary = proceedings.json()["summary"]
        seen[centre] = (
            len(summary.get("statements") or []),
            len([e for e in housing.json()["items"] if e["event_type"] == "PersonMoved" and e["to"] != "shelter"]),
            len([e for e in timeline.json()["items"] if e["event_type"] == "SessionRecorded"]),
        )
    # (proceedings facts, moves out of the shelter, sessions) each centre reads
    assert seen == {SURYA: (1, 0, 1), PAYOKE: (1, 1, 2), PAG_ASA: (2, 2, 3)}


# A command of the holder in flight while the transfer is applied: what it records, and when it recorded it.
RACED = {
    "intake": ("/cases/{cid}/minority", {"kind": "accompanied", "basis": "declared-age"}, "MinorityEstablished"),
    "housing": ("/housing/cases/{cid}/moves", {"to": "transitional"}, "PersonMoved"),
    "legal": ("/cases/{cid}/proceedings/statements",
              {"kind": "complaint", "unit": "police-zone-antwerp", "report_number": "AN.55.L1.054321/2026"},
              "StatementMade"),
}  # fmt: skip


@pytest.mark.parametrize("service", sorted(RACED))
async def test_a_command_of_the_former_holder_in_flight_at_the_hand_over_commits_before_it_or_is_refused(
    whole: Whole, service: str
):
    """Payoke's command has passed its access check and waits to append (the events table locked) when Sürya
    accepts the transfer. Either the hand-over waits for the command (it then belongs to Payoke's period), or
    the command is judged again after it (403): never a fact recorded by Payoke after it lost the case."""
    case = await whole.admit(PAYOKE)
    cid = case.case_id
    assert (await whole.place(case))["status"] == "assigned"
    assert (await whole.request_transfer(case, SURYA)).status_code == 200
    path, body, event_type = RACED[service]
    url = whole.services[service].runtime.endpoints.database_url
    database = url.rpartition("/")[2]
    blocker, watcher = await asyncpg.connect(url), await asyncpg.connect(url)
    try:
        await blocker.execute("BEGIN; LOCK TABLE events IN SHARE MODE")
        command = asyncio.create_task(whole.call(service, "POST", path.format(cid=cid), PAYOKE, "caseworker", body))

        async def waiting(n: int) -> bool:  # sessions of the service's database waiting on a lock
            sql = """SELECT count(*) FROM pg_stat_activity
                     WHERE datname = $1 AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"""
            return await watcher.fetchval(sql, database) >= n

        await wait_until(lambda: waiting(1), timeout=10)  # the command, blocked on its append
        assert (await whole.answer_transfer(case, SURYA, "accept")).status_code == 200

        async def handed_over_or_queued() -> bool:  # the hand-over applied, or waiting behind the command
            seq = await watcher.fetchval("SELECT max(seq) FROM case_custody WHERE case_id = $1", cid)
            return (seq or 0) > 0 or await waiting(2)

        await wait_until(handed_over_or_queued, timeout=15)
    finally:
        await blocker.execute("ROLLBACK")
        await blocker.close()
    try:
        answer = await command
        case.holder = SURYA
        await whole.applied(case)
        applied_at = await watcher.fetchval("SELECT applied_at FROM case_custody WHERE case_id = $1 AND seq > 0", cid)
        recorded = await watcher.fetch("SELECT recorded_at, actor_org FROM events WHERE case_id = $1 AND "
                                       "event_type = $2 AND payload->>'to' IS DISTINCT FROM 'shelter'",
                                       cid, event_type)  # fmt: skip
    finally:
        await watcher.close()
    assert answer.status_code in (200, 201, 403), answer.text
    late = [r for r in recorded if r["recorded_at"] > applied_at]
    assert (answer.status_code, len(recorded), late) in ((200, 1, []), (201, 1, []), (403, 0, [])), (
        f"{service}: {answer.status_code}, {len(late)} of {len(recorded)} recorded by {PAYOKE} after the hand-over"
    )


async def test_the_extension_of_a_minors_reflection_reaches_the_guardianship_service_whichever_consumer_runs_first(
    whole: Whole,
):
    """Legal learns the minority twice from intake's topic: its reaction extends the Annex 15, its case-audiences
    consumer learns that the case has a minor (so the Guardianship Service follows it). Nothing orders the two
    consumers: here the audiences consumer lags (legal's case_audiences locked against writes) while the
    extension is recorded and its milestone routed. The Guardianship Service must still receive it."""
    case = await whole.admit(PAYOKE)
    await whole.issue(case, "annex-15")
    audiences = (PAYOKE, PAG_ASA, SURYA, GUARDIANSHIP, IMMIGRATION)
    url = whole.services["legal"].runtime.endpoints.database_url
    database = url.rpartition("/")[2]
    blocker, watcher = await asyncpg.connect(url), await asyncpg.connect(url)
    try:
        await blocker.execute("BEGIN; LOCK TABLE case_audiences IN SHARE MODE")
        await whole.ok("intake", f"/cases/{case.case_id}/minority", PAYOKE, "caseworker",
                       {"kind": "unaccompanied", "basis": "identity-document"})  # fmt: skip

        async def routed_or_both_waiting() -> bool:
            # Routed while the audiences consumer waits; or legal orders the two itself (its reaction writes
            # the audiences too, and waits on the lock beside the consumer).
            ids = await whole.event_ids("legal", case, "ReflectionPeriodExtended")
            if ids and PAYOKE in await whole.milestone_audiences(ids[0], audiences):
                return True
            sql = """SELECT count(*) FROM pg_stat_activity
                     WHERE datname = $1 AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"""
            return await watcher.fetchval(sql, database) >= 2

        await wait_until(routed_or_both_waiting, timeout=15)
    finally:
        await blocker.execute("ROLLBACK")
        await blocker.close()
        await watcher.close()

    async def extended() -> bool:
        return bool(await whole.event_ids("legal", case, "ReflectionPeriodExtended"))

    await wait_until(extended, timeout=20)
    [extension] = await whole.event_ids("legal", case, "ReflectionPeriodExtended")
    try:
        await wait_until(lambda: _went_to(whole, extension, audiences, at_least=3), timeout=15)
    except TimeoutError:
        pass
    assert await whole.milestone_audiences(extension, audiences) == [PAYOKE, GUARDIANSHIP, IMMIGRATION]


# The receiving centre's first act after the hand-over, and the event whose milestone tells the holding centre.
FIRST_ACTS = {
    "legal": ("/cases/{cid}/proceedings/opinion-requests", {"step": "a-card-initial"}, "MagistrateOpinionRequested"),
    "housing": ("/housing/cases/{cid}/moves", {"to": "transitional"}, "PersonMoved"),
}


@pytest.mark.parametrize("service", sorted(FIRST_ACTS))
async def test_the_receiving_centres_first_act_is_told_to_it_not_to_the_former_centre_whichever_consumer_runs_first(
    whole: Whole, service: str
):
    """A service applies the transfer twice: to custody (who may act) and to its milestone audiences (who is
    told). Nothing orders the two consumers: here the audiences consumer lags (case_audiences locked against
    writes) while custody lets Sürya act. Sürya's act must never be told to Payoke, whose period has ended."""
    case = await whole.admit(PAYOKE)
    cid = case.case_id
    assert (await whole.place(case))["status"] == "assigned"
    await whole.statement_and_file(case)
    assert (await whole.request_transfer(case, SURYA)).status_code == 200
    path, body, event_type = FIRST_ACTS[service]
    url = whole.services[service].runtime.endpoints.database_url
    database = url.rpartition("/")[2]
    blocker, watcher = await asyncpg.connect(url), await asyncpg.connect(url)
    answer = None
    try:
        await blocker.execute("BEGIN; LOCK TABLE case_audiences IN SHARE MODE")
        assert (await whole.answer_transfer(case, SURYA, "accept")).status_code == 200
        case.holder = SURYA

        async def holder_or_both_waiting() -> bool:
            # Custody applied while the audiences consumer waits; or the service applies both in one transaction
            # (its custody handler then waits on the lock beside the consumer).
            if await watcher.fetchval("SELECT max(seq) FROM case_custody WHERE case_id = $1", cid):
                return True
            sql = """SELECT count(*) FROM pg_stat_activity
                     WHERE datname = $1 AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"""
            return await watcher.fetchval(sql, database) >= 2

        await wait_until(holder_or_both_waiting, timeout=15)
        if await watcher.fetchval("SELECT max(seq) FROM case_custody WHERE case_id = $1", cid):
            answer = await whole.call(service, "POST", path.format(cid=cid), SURYA, "caseworker", body)
            assert answer.status_code in (200, 201), answer.text

            async def routed() -> bool:
                ids = await _acts(whole, service, case, event_type)
                return bool(ids) and await _went_to(whole, ids[0])

            try:  # routed while the audiences still name Payoke (or held back until they name Sürya)
                await wait_until(routed, timeout=5)
            except TimeoutError:
                pass
    finally:
        await blocker.execute("ROLLBACK")
        await blocker.close()
        await watcher.close()
    await whole.applied(case)
    if answer is None:
        await whole.ok(service, path.format(cid=cid), SURYA, "caseworker", body)
    [act] = await _acts(whole, service, case, event_type)
    await wait_until(lambda: _went_to(whole, act), timeout=25)
    assert await whole.milestone_audiences(act) == [SURYA]


async def _acts(whole: Whole, service: str, case: Case, event_type: str) -> list[UUID]:
    rows = await whole.fetch(service, "SELECT event_id FROM events WHERE case_id = $1 AND event_type = $2 "
                             "AND payload->>'to' IS DISTINCT FROM 'shelter' ORDER BY global_position",
                             case.case_id, event_type)  # fmt: skip
    return [r["event_id"] for r in rows]


# -- keys on the wire -----------------------------------------------------------------------------------------


def _key_is_as_locked(
    description: str, key: str, headers: dict[str, str], value: dict[str, Any], case_of: dict[str, str]
) -> bool:
    """Whether a record's key is what the lock's description of its type says (each description the lock uses
    has its check here: a new one fails the test until it has). ``case_of``: referral id → case id (CaseOpened)."""
    if description == "case id":
        return key == value.get("case_id") == headers["case_id"]
    if description == REFERRAL_KEY:
        referral = value["referral_id"]
        expected = value.get("case_id") or {referral, case_of.get(referral)}
        return key == headers["case_id"] and (key == expected if isinstance(expected, str) else key in expected)
    if description == PERSON_KEY:
        return key == headers["case_id"]
    if description == NETWORK_KEY:
        return key == headers["stream_id"] and key.removeprefix("shelter-network-") in CENTRES
    if description == "audience case reference":
        return key == value["case_ref"]
    raise AssertionError(f"no check for the key {description!r}")


async def test_every_record_on_every_published_topic_is_keyed_as_the_contract_lock_says(whole: Whole):
    await case_in_procedure(whole)  # a shelter registered, a bed assigned, milestones to five audiences
    lock = json.loads((SCHEMAS_DIR / "contracts.lock.json").read_text())["topics"]
    published = [t for t in lock if not t.endswith(".dlq")]

    async def placed() -> bool:
        kinds = {headers_of(r)["event_type"] for r in await read_topic(whole.bootstrap, "housing.events.v1")}
        return {"ShelterRegistered", "BedAssigned"} <= kinds

    await wait_until(placed, timeout=25)
    records = await read_topics(whole.bootstrap, published)
    case_of = {v["referral_id"]: v["case_id"] for r in records["intake.events.v1"]
               if headers_of(r)["event_type"] == "CaseOpened" for v in [json.loads(r.value)]}  # fmt: skip
    seen: dict[str, set[str]] = {}
    wrong = []
    for topic in published:
        for record in records[topic]:
            headers = headers_of(record)
            kind = headers.get("milestone") if topic.startswith("milestones.") else headers["event_type"]
            assert kind in lock[topic]["messages"], f"{kind} on {topic}: the lock does not list it"
            description = lock[topic]["messages"][kind]
            key, value = record.key.decode(), json.loads(record.value)
            if not _key_is_as_locked(description, key, headers, value, case_of):
                wrong.append((topic, kind, description, key))
            seen.setdefault(description, set()).add(topic)
    assert wrong == [], wrong
    # Every kind of key the lock describes was met on the wire (the check above cannot pass on nothing).
    assert {"case id", "audience case reference", NETWORK_KEY, REFERRAL_KEY} <= set(seen), seen
