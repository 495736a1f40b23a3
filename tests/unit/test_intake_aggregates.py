"""Intake's aggregates hold the aggregate contract (tests/support/aggregate_contract.py)."""

from __future__ import annotations

from datetime import date

from schemas.intake import Centre, ConsentScope, ErasureReason, ExploitationType, LeadCloseReason, Region
from services.intake import Lead, LeadStatus, Person, Referral, ReferralStatus
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


def _lead(then: str) -> Lead:
    lead = Lead("tip-1")
    lead.open(centre=Centre.SURYA, region=Region.WALLONIA, postcode="4000",
              seen_on=date(2026, 3, 1), exploitation_types=(ExploitationType.FORCED_BEGGING,),
              signal_ids=("movement-and-control.identity-documents-withheld",), catalogue_version="signals-v1",
              submitted_on=date(2026, 3, 2), on=date(2026, 3, 2))  # fmt: skip
    if then == "taken up":
        lead.take_up(by_centre=Centre.SURYA, referral_id="referral-9", on=date(2026, 3, 3))
    elif then == "closed":
        lead.close(by_centre=Centre.SURYA, reason=LeadCloseReason.PASSED_TO_POLICE, on=date(2026, 3, 3))
    return lead


class TestIntakeAggregates(AggregateContract):
    aggregates = (Referral, Person, Lead)
    # The erasure's partition key is given to the command for the event it records, not part of the state.
    ignored = {Person: frozenset({"_case_key"})}

    def histories(self) -> list[History]:
        return [
            History.of("a referral submitted, screened, accepted, consented and admitted", admitted(), _admitted),
            History.of("a person erased", _erased(), lambda p: p.erased),
            History.of("a lead opened", _lead("open"), lambda lead: lead.status is LeadStatus.OPEN),
            History.of("a lead taken up", _lead("taken up"), lambda lead: lead.referral_id == "referral-9"),
            History.of("a lead closed", _lead("closed"), lambda lead: lead.status is LeadStatus.CLOSED),
        ]
