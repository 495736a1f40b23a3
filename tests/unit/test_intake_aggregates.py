"""Intake's aggregates hold the aggregate contract (tests/support/aggregate_contract.py)."""

from __future__ import annotations

from datetime import date

from schemas.intake import ConsentScope, ErasureReason
from services.intake import Person, Referral, ReferralStatus
from tests.support.aggregate_contract import AggregateContract, History
from tests.unit.test_intake_domain import PERSON, admitted


def _admitted(rebuilt: Referral) -> None:
    assert (rebuilt.status, rebuilt.case_id, rebuilt.consents) == (
        ReferralStatus.ADMITTED,
        "case-1",
        {ConsentScope.GUIDANCE},
    )


def _erased() -> Person:
    person = Person(PERSON)
    person.erase(reason=ErasureReason.PERSON_REQUEST, on=date(2026, 1, 5), case_key="case-1")
    return person


class TestIntakeAggregates(AggregateContract):
    aggregates = (Referral, Person)
    # The erasure's partition key is given to the command for the event it records, not part of the state.
    ignored = {Person: frozenset({"_case_key"})}

    def histories(self) -> list[History]:
        return [
            History.of("a referral submitted, screened, accepted, consented and admitted", admitted(), _admitted),
            History.of("a person erased", _erased(), lambda p: p.erased),
        ]
