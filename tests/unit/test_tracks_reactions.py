"""What other services' events mean for a track, and when the plan-review timers fire (pure functions)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from harbour.events import DomainEvent
from schemas.housing import HousingKind, PersonMoved
from schemas.legal import (
    DocumentIssued,
    EndingReason,
    ProceedingsConcluded,
    ProceedingsOutcome,
    ResidenceDocument,
    ResidenceStatusEnded,
    VoluntaryReturnChosen,
)
from services.tracks.deadlines import OVERDUE, REMINDER, at_office_opening, timer_key
from services.tracks.handlers import Fact, housing_facts, legal_facts

ON = date(2026, 5, 4)
C = "case-1"


def issued(document: ResidenceDocument) -> DocumentIssued:
    return DocumentIssued(
        case_id=C,
        document=document,
        decided_on=ON,
        starts_on=ON,
        ends_on=None if document is ResidenceDocument.B_CARD else date(2026, 11, 3),
    )


@pytest.mark.parametrize(
    ("event", "facts"),
    [
        (issued(ResidenceDocument.A_CARD), [Fact.STATUS_GRANTED]),
        (issued(ResidenceDocument.B_CARD), [Fact.STATUS_GRANTED, Fact.RESIDENCE_SETTLED]),
        (issued(ResidenceDocument.ATTESTATION_OF_IMMATRICULATION), []),
        (
            ResidenceStatusEnded(case_id=C, ended_on=ON, reason=EndingReason.STOPPED_COOPERATING),
            [Fact.STATUS_ENDED, Fact.RESIDENCE_SETTLED],
        ),
        (
            ResidenceStatusEnded(case_id=C, ended_on=ON, reason=EndingReason.STATUS_GRANTED_UNLIMITED),
            [Fact.RESIDENCE_SETTLED],
        ),
        (VoluntaryReturnChosen(case_id=C, chosen_on=ON), [Fact.RESIDENCE_SETTLED]),
        (
            ProceedingsConcluded(case_id=C, concluded_on=ON, outcome=ProceedingsOutcome.DISMISSED),
            [Fact.PROCEEDINGS_CONCLUDED],
        ),
    ],
)
def test_legal_events_are_read_as_the_facts_a_track_notes(event: DomainEvent, facts: list[Fact]) -> None:
    assert legal_facts(event) == [(fact, ON) for fact in facts]


def test_only_a_move_into_independent_housing_secures_housing() -> None:
    assert housing_facts(PersonMoved(case_id=C, to=HousingKind.INDEPENDENT, on=ON)) == [(Fact.HOUSING_SECURED, ON)]
    assert housing_facts(PersonMoved(case_id=C, to=HousingKind.TRANSITIONAL, on=ON)) == []


def test_review_timers_fire_at_eight_in_the_morning_brussels_time_summer_and_winter() -> None:
    assert at_office_opening(date(2026, 1, 5)).astimezone(UTC) == datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
    assert at_office_opening(date(2026, 7, 6)).astimezone(UTC) == datetime(2026, 7, 6, 6, 0, tzinfo=UTC)


def test_each_review_due_date_has_its_own_timer_keys_so_a_fired_one_never_blocks_the_next() -> None:
    keys = {timer_key(C, due, kind) for due in (ON, date(2026, 8, 4)) for kind in (REMINDER, OVERDUE)}
    assert len(keys) == 4 and all(k.startswith(f"track:{C}:plan-review:") for k in keys)
