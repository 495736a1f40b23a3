"""Published contracts of the housing service (topic ``housing.events.v1``, keyed by case id).

A shelter's address and its name are the housing service's own: they live only in its private tables
(``shelter_addresses``, ``shelter_names``) and appear in no event, so these contracts name a shelter (and a bed)
by id only. (``ShelterRegistered`` v1 carried the name; v2 does not, and the upcaster below drops it from any v1
record still stored or on the topic.) The address of a person's independent housing
is their personal data and travels only as a :class:`harbour.pii.Sealed` value. Centres are named by
intake's organisation ids (``centre-payoke``, ``centre-pag-asa``, ``centre-surya``): the values of
:class:`schemas.intake.Centre`, which are also the ``org`` of a centre's tokens.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar, Final

from pydantic import BaseModel, ConfigDict

from harbour.events import JSON, DomainEvent, upcaster
from harbour.pii import Sealed
from schemas.intake import Centre


class BedConstraint(StrEnum):
    WOMEN_ONLY = "women-only"
    MEN_ONLY = "men-only"
    FAMILY_ROOM = "family-room"
    ACCESSIBLE = "accessible"


# Constraints that restrict who may sleep in a bed (a man is never given a women-only bed even though
# he "needs" nothing); the others are features a person may need and anyone may use.
RESTRICTIONS: Final = frozenset({BedConstraint.WOMEN_ONLY, BedConstraint.MEN_ONLY})


class HousingKind(StrEnum):
    SHELTER = "shelter"
    TRANSITIONAL = "transitional"
    INDEPENDENT = "independent"


class ExitReason(StrEnum):
    MOVED_ON = "moved-on"
    LEFT_WITHOUT_NOTICE = "left-without-notice"
    RETURNED_TO_ORIGIN = "returned-to-origin"
    RULE_BREACH = "rule-breach"


class PlacementSource(StrEnum):
    INTAKE = "intake"  # intake's CaseOpened said a shelter is needed tonight
    CASEWORKER = "caseworker"


class Urgency(StrEnum):
    """Declared from the most to the least urgent: the waiting list is served in this order, then by time."""

    TONIGHT = "tonight"
    URGENT = "urgent"
    PLANNED = "planned"


class WithdrawalReason(StrEnum):
    PLACED_ELSEWHERE = "placed-elsewhere"
    NO_LONGER_NEEDED = "no-longer-needed"
    LOST_CONTACT = "lost-contact"


class CrossCentreDeclineReason(StrEnum):
    NO_CAPACITY = "no-capacity"
    SAFETY = "safety"  # e.g. the exploiters are known to be active near that shelter
    NEEDS_NOT_MET = "needs-not-met"


class BedSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bed_id: str
    constraints: frozenset[BedConstraint] = frozenset()


# -- the shelter network of one centre (stream ``shelter-network-<centre>``) -------------------------


class ShelterRegistered(DomainEvent):
    """A centre registered a shelter and its beds. By id only: the name stays in housing, like the address."""

    event_type: ClassVar[str] = "ShelterRegistered"
    schema_version: ClassVar[int] = 2

    shelter_id: str
    centre: Centre
    beds: tuple[BedSpec, ...]


@upcaster("ShelterRegistered", 1)
def _shelter_registered_v1_to_v2(payload: JSON) -> JSON:
    """v1 carried the shelter's name; v2 leaves it to housing's private table (filled from v1 by its migration)."""
    payload.pop("name", None)
    return payload


class BedAdded(DomainEvent):
    """A bed added to a registered shelter; like a new shelter's beds, it serves the waiting list at once."""

    event_type: ClassVar[str] = "BedAdded"

    shelter_id: str
    bed_id: str
    constraints: frozenset[BedConstraint] = frozenset()
    on: date


class BedTakenOutOfService(DomainEvent):
    event_type: ClassVar[str] = "BedTakenOutOfService"

    shelter_id: str
    bed_id: str
    on: date


class BedReturnedToService(DomainEvent):
    event_type: ClassVar[str] = "BedReturnedToService"

    shelter_id: str
    bed_id: str
    on: date


class PlacementRequested(DomainEvent):
    event_type: ClassVar[str] = "PlacementRequested"

    request_id: str
    case_id: str
    centre: Centre
    needs: frozenset[BedConstraint]
    urgency: Urgency
    source: PlacementSource
    requested_at: datetime


class CrossCentrePlacementRequested(DomainEvent):
    """Recorded in the *host* centre's stream: no bed is assigned until that centre accepts."""

    event_type: ClassVar[str] = "CrossCentrePlacementRequested"

    request_id: str
    case_id: str
    from_centre: Centre
    host_centre: Centre
    needs: frozenset[BedConstraint]
    urgency: Urgency
    requested_at: datetime


class CrossCentrePlacementAccepted(DomainEvent):
    event_type: ClassVar[str] = "CrossCentrePlacementAccepted"

    request_id: str
    case_id: str
    host_centre: Centre
    on: date


class CrossCentrePlacementDeclined(DomainEvent):
    event_type: ClassVar[str] = "CrossCentrePlacementDeclined"

    request_id: str
    case_id: str
    host_centre: Centre
    reason: CrossCentreDeclineReason
    on: date


class BedAssigned(DomainEvent):
    event_type: ClassVar[str] = "BedAssigned"

    request_id: str
    case_id: str
    shelter_id: str
    bed_id: str
    on: date


class PlacementWaitlisted(DomainEvent):
    """No fitting bed was free. ``position`` (1-based) and ``waiting`` are as of this moment only."""

    event_type: ClassVar[str] = "PlacementWaitlisted"

    request_id: str
    case_id: str
    position: int
    waiting: int
    on: date


class WaitlistServed(DomainEvent):
    """A freed bed went to the first fitting waiting request; the ``BedAssigned`` that follows names the bed."""

    event_type: ClassVar[str] = "WaitlistServed"

    request_id: str
    case_id: str
    waited_since: datetime
    on: date


class PlacementRequestWithdrawn(DomainEvent):
    event_type: ClassVar[str] = "PlacementRequestWithdrawn"

    request_id: str
    case_id: str
    reason: WithdrawalReason
    on: date


class PlacementExited(DomainEvent):
    """The person left the shelter bed; the bed is free from this event on."""

    event_type: ClassVar[str] = "PlacementExited"

    case_id: str
    shelter_id: str
    bed_id: str
    reason: ExitReason
    on: date


# -- one person's housing path (stream ``placement-<case id>``) ------------------------------------------


class PersonMoved(DomainEvent):
    """The person now lives in ``to``. Into a shelter only through a served placement request
    (``request_id``, ``shelter_id``); into independent housing with the sealed address."""

    event_type: ClassVar[str] = "PersonMoved"

    case_id: str
    to: HousingKind
    on: date
    request_id: str | None = None
    shelter_id: str | None = None
    address: Sealed | None = None


class HousingEnded(DomainEvent):
    """The person no longer lives in housing provided or followed by the centre."""

    event_type: ClassVar[str] = "HousingEnded"

    case_id: str
    left: HousingKind
    reason: ExitReason
    on: date


# What keys a housing event on housing.events.v1 (the topic table's "case id" is the rule; these are the exceptions).
NETWORK_KEY = "shelter network stream id (shelter-network-<centre>)"


def message_key(event_cls: type[DomainEvent]) -> str | None:
    """The Kafka key of an event type when it is not the topic's (the lock and the AsyncAPI documents say it):
    an event with no case (a shelter or a bed) travels under its network, as :func:`case_key_of` sends it."""
    return None if "case_id" in event_cls.model_fields else NETWORK_KEY


def case_key_of(event: DomainEvent, *, default: str) -> str:
    """The Kafka key of one event: its case id. A shelter network's stream carries events of many cases
    (and shelter events of none), so its events are keyed one by one, not by the stream."""
    case_id = getattr(event, "case_id", None)
    return case_id if isinstance(case_id, str) else default
