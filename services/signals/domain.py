"""A tip from the public, and the facts it is routed on. Pure: no I/O, dates come in as arguments."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from harbour.aggregate import Aggregate
from harbour.errors import RuleViolation
from harbour.events import DomainEvent
from harbour.pii import Sealed
from schemas.intake import Centre, ExploitationType, Region
from schemas.signals import TipErased, TipErasureReason, TipSubmitted

# Belgian postcodes by region (DOMAIN.md §8): Brussels-Capital 1000-1299; Walloon Brabant 1300-1499; Flemish
# Brabant 1500-1999 and 3000-3499; Antwerp 2000-2999; Limburg 3500-3999; Liège 4000-4999; Namur 5000-5999;
# Hainaut 6000-6599 and 7000-7999; Luxembourg 6600-6999; West Flanders 8000-8999; East Flanders 9000-9999.
_REGIONS: tuple[tuple[int, int, Region], ...] = (
    (1000, 1299, Region.BRUSSELS_CAPITAL),
    (1300, 1499, Region.WALLONIA),
    (1500, 3999, Region.FLANDERS),
    (4000, 7999, Region.WALLONIA),
    (8000, 9999, Region.FLANDERS),
)
# The region decides the recognised centre (the German-speaking area is in Wallonia: Sürya).
CENTRE_OF_REGION: dict[Region, Centre] = {
    Region.FLANDERS: Centre.PAYOKE,
    Region.BRUSSELS_CAPITAL: Centre.PAG_ASA,
    Region.WALLONIA: Centre.SURYA,
}


def region_of_postcode(postcode: str) -> Region:
    if len(postcode) != 4 or not postcode.isdigit():
        raise RuleViolation("a Belgian postcode has four digits", field="postcode")
    number = int(postcode)
    for low, high, region in _REGIONS:
        if low <= number <= high:
            return region
    raise RuleViolation("not a Belgian postcode", field="postcode")


class Tip(Aggregate):
    stream_type = "tip"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.centre: Centre | None = None
        self.erased_on: date | None = None

    def submit(
        self,
        *,
        postcode: str,
        municipality: str | None,
        seen_on: date | None,
        exploitation_types: tuple[ExploitationType, ...],
        signal_ids: tuple[str, ...],
        catalogue_version: str,
        description: Sealed,
        callback: Sealed | None,
        today: date,
        event_id: UUID,
    ) -> None:
        if self.exists:
            raise RuleViolation("this tip was submitted already", field="tip_id")
        if seen_on is not None and seen_on > today:
            raise RuleViolation("the day it was seen cannot be in the future", field="seen_on")
        region = region_of_postcode(postcode)
        self._record(
            TipSubmitted(tip_id=self.id, postcode=postcode, municipality=municipality, region=region,
                         centre=CENTRE_OF_REGION[region], seen_on=seen_on, exploitation_types=exploitation_types,
                         signal_ids=signal_ids, catalogue_version=catalogue_version, description=description,
                         callback=callback, submitted_on=today),
            event_id=event_id,
        )  # fmt: skip

    def erase(self, *, reason: TipErasureReason, on: date) -> None:
        """Record the erasure; destroying the tip's key is the vault's part of the same command."""
        if not self.exists:
            raise RuleViolation("no such tip", field="tip_id")
        if self.erased_on is not None:
            raise RuleViolation("this tip is erased already", field="tip_id")
        self._record(TipErased(tip_id=self.id, reason=reason, erased_on=on))

    def apply(self, event: DomainEvent) -> None:
        match event:
            case TipSubmitted():
                self.centre = event.centre
            case TipErased():
                self.erased_on = event.erased_on
            case _:
                raise TypeError(f"Tip does not handle {type(event).__name__}")
