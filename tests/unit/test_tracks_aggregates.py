"""Tracks' aggregate holds the aggregate contract (tests/support/aggregate_contract.py)."""

from __future__ import annotations

from services.tracks.domain import Centre, FormerOwnership, Track
from tests.support.aggregate_contract import AggregateContract, History
from tests.unit.test_tracks_domain import OPENED, TODAY, ready_to_close, record, sealed, with_goal

PAYOKE_THEN_SURYA_THEN_PAG_ASA = [FormerOwnership(Centre.PAYOKE, 3), FormerOwnership(Centre.SURYA, 5)]


def _transferred_twice() -> History:
    track = Track("case-1")
    track.open(centre="centre-payoke", person_id="person-1", caseworker_id="cw-1", opened_on=OPENED)
    track.request_transfer(by_centre="centre-payoke", to_centre="centre-surya", reason="person-relocated", on=TODAY)
    track.accept_transfer(by_centre="centre-surya", caseworker_id="cw-9", on=TODAY)
    stream = track.pending()
    track.mark_saved()  # positions must not depend on what was saved when
    track.request_transfer(by_centre="centre-surya", to_centre="centre-pag-asa", reason="safety", on=TODAY)
    track.accept_transfer(by_centre="centre-pag-asa", caseworker_id="cw-5", on=TODAY)
    stream += track.pending()
    assert track.former_centres == PAYOKE_THEN_SURYA_THEN_PAG_ASA
    return History("a track transferred twice, saved in between", track, stream, _reads_its_own_period)


def _reads_its_own_period(rebuilt: Track) -> None:
    assert rebuilt.former_centres == PAYOKE_THEN_SURYA_THEN_PAG_ASA and rebuilt.owning_centre is Centre.PAG_ASA
    # A former owner reads what it could read as owner: up to its hand-over (the history it received too), no further.
    assert rebuilt.may_read(Centre.SURYA, 5) and rebuilt.may_read(Centre.SURYA, 2)
    assert not rebuilt.may_read(Centre.SURYA, 6)
    assert rebuilt.may_read(Centre.PAYOKE, 3) and not rebuilt.may_read(Centre.PAYOKE, 4)


def _closed() -> Track:
    track = Track("case-1")
    track.open(centre="centre-payoke", person_id="person-1", caseworker_id="cw-1", opened_on=OPENED)
    with_goal(track).progress_goal(goal_id="g1", on=TODAY)
    track.request_transfer(by_centre="centre-payoke", to_centre="centre-surya", reason="person-relocated", on=TODAY)
    track.accept_transfer(by_centre="centre-surya", caseworker_id="cw-9", on=TODAY)
    record(track, notes=sealed("n"))
    ready_to_close(track).close(on=TODAY, reason="person-ended-guidance")
    return track


class TestTracksAggregates(AggregateContract):
    aggregates = (Track,)

    def histories(self) -> list[History]:
        return [
            _transferred_twice(),
            History.of(
                "a track planned, transferred, with a session, closed",
                _closed(),
                lambda t: t.proceedings_concluded and t.residence_settled,
            ),
        ]
