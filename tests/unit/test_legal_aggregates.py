"""Legal's aggregates hold the aggregate contract (tests/support/aggregate_contract.py)."""

from __future__ import annotations

from datetime import date

from services.legal.case import LegalCase
from services.legal.proceedings import CriminalProceedings
from services.legal.residence import ResidenceProcedure
from tests.support.aggregate_contract import AggregateContract, History
from tests.unit.test_legal_domain import CASE, with_a_card
from tests.unit.test_legal_lapses import a_card_case


def _registered() -> LegalCase:
    case = LegalCase(CASE)
    case.register(centre="centre-payoke", unaccompanied_minor=True, eu_citizen=False, opened_on=date(2026, 1, 5))
    return case


def _same_document(original: ResidenceProcedure):
    def check(rebuilt: ResidenceProcedure) -> None:
        assert rebuilt.current == original.current
        assert rebuilt.issued == original.issued

    return check


def _same_history(original: ResidenceProcedure):
    def check(rebuilt: ResidenceProcedure) -> None:
        assert rebuilt.history() == original.history() and len(rebuilt.history()) == 3

    return check


class TestLegalAggregates(AggregateContract):
    aggregates = (LegalCase, CriminalProceedings, ResidenceProcedure)

    def histories(self) -> list[History]:
        residence, proceedings = with_a_card()
        lapsed, _, _ = a_card_case()
        return [
            History.of("a case followed by legal", _registered(), lambda c: c.unaccompanied_minor),
            History.of("a statement, its file and the magistrate's opinion", proceedings),
            History.of("an annex 15, an attestation and an A card", residence, _same_document(residence)),
            History.of("the stay periods of an A card case", lapsed, _same_history(lapsed)),
        ]
