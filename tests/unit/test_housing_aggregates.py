"""Housing's aggregates hold the aggregate contract (tests/support/aggregate_contract.py)."""

from __future__ import annotations

from datetime import timedelta

from schemas.housing import BedConstraint, ExitReason, HousingKind
from services.housing.domain import Placement, ShelterNetwork
from tests.support.aggregate_contract import AggregateContract, History
from tests.unit.test_housing_domain import D0, T0, in_shelter, network, request, waiting_network

W, A = BedConstraint.WOMEN_ONLY, BedConstraint.ACCESSIBLE


def _served_and_exited() -> ShelterNetwork:
    net = network({"b1": {W}, "b2": {W, A}})
    for n in range(1, 5):
        request(net, n, at=T0 + timedelta(minutes=n))
    net.record_exit(case_id="c2", reason=ExitReason.MOVED_ON, on=D0)
    return net


def _with_an_added_bed() -> tuple[ShelterNetwork, list]:
    net = waiting_network()  # saved: the added bed's events are replayed on the state the commands built
    net.add_bed(shelter_id="s1", bed_id="w2", constraints={W}, on=D0)
    return net, net.pending()


def _same_beds_and_queue(original: ShelterNetwork):
    def check(rebuilt: ShelterNetwork) -> None:
        assert {k: (b.occupant, b.constraints) for k, b in rebuilt.beds.items()} == {
            k: (b.occupant, b.constraints) for k, b in original.beds.items()
        }
        assert [r.case_id for r in rebuilt.waiting] == [r.case_id for r in original.waiting] == ["c4", "c3", "c1"]

    return check


def _moved_on() -> Placement:
    placement = in_shelter()
    placement.move(to=HousingKind.TRANSITIONAL, on=D0 + timedelta(days=90))
    placement.end(reason=ExitReason.MOVED_ON, on=D0 + timedelta(days=120))
    return placement


class TestHousingAggregates(AggregateContract):
    aggregates = (ShelterNetwork, Placement)

    def histories(self) -> list[History]:
        served = _served_and_exited()
        added, events = _with_an_added_bed()
        return [
            History.of(
                "four requests on two beds and an exit",
                served,
                lambda n: n.beds == served.beds and n.waiting == served.waiting and n.bed_of_case == served.bed_of_case,
            ),
            History(
                "a bed added to a network with a waiting list",
                added,
                events,
                _same_beds_and_queue(added),
                start=waiting_network,
            ),
            History.of(
                "a person housed in a shelter, then transitional housing, then out",
                _moved_on(),
                lambda p: p.stage is None,
            ),
        ]
