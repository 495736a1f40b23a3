"""The case_audiences read model on the real PostgreSQL: facts from several topics, in any order, converge."""

from __future__ import annotations

from datetime import date

import pytest

from milestones import CASE_AUDIENCES, load_facts
from schemas.intake import CaseOpened, Centre, Region
from schemas.legal import ProsecutorialFileAssigned, StatementKind, StatementMade
from schemas.tracks import TransferAccepted
from tests.support.milestone_events import recorded

pytestmark = pytest.mark.integration


def _opened(**overrides: object) -> CaseOpened:
    fields: dict[str, object] = dict(
        case_id="case-7", referral_id="ref-7", centre=Centre.PAYOKE, person_id="person-7", minor=False,
        eu_citizen=False, needs_shelter_tonight=False, referring_organisation_id="police-antwerp",
        region=Region.FLANDERS, opened_on=date(2026, 1, 5),
    )  # fmt: skip
    fields.update(overrides)
    return CaseOpened(**fields)  # type: ignore[arg-type]


def _transfer(to: Centre, on: date) -> TransferAccepted:
    return TransferAccepted(case_id="case-7", from_centre=Centre.PAYOKE, to_centre=to, caseworker_id="cw",
                            accepted_on=on)  # fmt: skip


async def _apply(conn, *events) -> None:
    for event in events:
        await CASE_AUDIENCES.handle(conn, recorded(event, "case-7"))


async def test_a_transfer_seen_before_the_case_opened_keeps_the_receiving_centre(db_pool) -> None:
    async with db_pool.acquire() as conn:
        await _apply(conn, _transfer(Centre.SURYA, date(2026, 3, 1)), _opened())
        root, facts = await load_facts(conn, "case-7")
    assert root == "ref-7" and facts.owning_centre == "centre-surya" and facts.referring_org == "police-antwerp"


async def test_an_older_transfer_delivered_late_does_not_move_the_case_back(db_pool) -> None:
    async with db_pool.acquire() as conn:
        await _apply(conn, _opened(), _transfer(Centre.SURYA, date(2026, 5, 1)),
                     _transfer(Centre.PAG_ASA, date(2026, 3, 1)))  # fmt: skip
        _, facts = await load_facts(conn, "case-7")
    assert facts.owning_centre == "centre-surya"


async def test_a_case_is_not_known_until_intake_facts_arrive_even_if_legal_facts_did(db_pool) -> None:
    assigned = ProsecutorialFileAssigned(case_id="case-7", office="labour-auditorate-antwerp",
                                         file_number="AN.55.L1.012345/2026", assigned_on=date(2026, 2, 1))  # fmt: skip
    async with db_pool.acquire() as conn:
        await _apply(conn, assigned)
        assert await load_facts(conn, "case-7") is None  # the relay waits: it cannot know the referrer yet
        await _apply(conn, _opened())
        _, facts = await load_facts(conn, "case-7")
    assert (facts.prosecution_office, facts.prosecution_file_number) == ("labour-auditorate-antwerp",
                                                                         "AN.55.L1.012345/2026")  # fmt: skip


async def test_a_statement_to_the_referring_unit_gives_it_a_file_number_it_lacked_and_no_other(db_pool) -> None:
    def statement(unit: str, number: str) -> StatementMade:
        return StatementMade(case_id="case-7", made_on=date(2026, 1, 9), kind=StatementKind.STATEMENT, unit=unit,
                             report_number=number)  # fmt: skip

    async with db_pool.acquire() as conn:
        await _apply(conn, _opened(), statement("police-federal", "FED/1"), statement("police-antwerp", "AN/2"),
                     statement("police-antwerp", "AN/3"))  # fmt: skip
        _, facts = await load_facts(conn, "case-7")
    assert facts.referrer_file_number == "AN/2"
