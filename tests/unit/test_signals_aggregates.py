"""The signals service's aggregate holds the aggregate contract (tests/support/aggregate_contract.py), and a tip's
own rules: submitted once, routed by its postcode, erased once."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from harbour.errors import RuleViolation
from harbour.pii import Sealed
from schemas.intake import Centre
from schemas.signals import TipErased, TipErasureReason
from services.signals.domain import Tip
from tests.support.aggregate_contract import AggregateContract, History

D0 = date(2026, 5, 4)


def _told(tip_id: str) -> Sealed:
    return Sealed(person_id=f"tip-{tip_id}", key_version=1, nonce="bm9uY2U=", ciphertext="Y2lwaGVy")


def submitted(tip_id: str = "t1", postcode: str = "4000") -> Tip:
    tip = Tip(tip_id)
    tip.submit(postcode=postcode, municipality="Liège", seen_on=D0, exploitation_types=(), signal_ids=(),
               catalogue_version="signals-v1", description=_told(tip_id), callback=None, today=D0,
               event_id=uuid.uuid4())  # fmt: skip
    return tip


def erased() -> Tip:
    tip = submitted()
    tip.erase(reason=TipErasureReason.UNFOUNDED, on=D0)
    return tip


class TestSignalsAggregates(AggregateContract):
    aggregates = (Tip,)

    def histories(self) -> list[History]:
        return [
            History.of("a tip seen in Liège", submitted(), lambda t: t.centre is Centre.SURYA and t.erased_on is None),
            History.of("a tip submitted and erased", erased(), lambda t: t.erased_on == D0),
        ]


def test_a_tip_is_routed_to_the_centre_of_the_region_of_its_postcode():
    assert submitted(postcode="2000").centre is Centre.PAYOKE
    assert submitted(postcode="1000").centre is Centre.PAG_ASA
    assert submitted(postcode="4700").centre is Centre.SURYA  # Eupen, the German-speaking area: Wallonia


def test_erasing_a_tip_records_one_erasure_with_its_reason_and_a_second_is_refused():
    tip = erased()
    (event,) = tip.pending()[1:]
    assert event == TipErased(tip_id="t1", reason=TipErasureReason.UNFOUNDED, erased_on=D0)
    with pytest.raises(RuleViolation, match="erased already"):
        tip.erase(reason=TipErasureReason.TIPSTER_REQUEST, on=D0)
    assert len(tip.pending()) == 2


def test_a_tip_never_submitted_cannot_be_erased():
    with pytest.raises(RuleViolation, match="no such tip"):
        Tip("unknown").erase(reason=TipErasureReason.RETENTION_ENDED, on=D0)
