"""Published contracts of the signals service (topic ``signals.events.v1``, keyed by tip id).

The only part of Harbour facing the public holds no case data. A tip names a place by postcode (and the
municipality the tipster typed), the kinds of exploitation suspected and the signals ticked from the shared
catalogue (``schemas/catalogue``). What the tipster wrote and the optional way to call them back may identify
people, the tipster among them: both are :class:`harbour.pii.Sealed` under the tip's own key, erasable.
Nothing about the tipster's connection (address, browser, cookies) is in any event.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import StringConstraints

from harbour.events import DomainEvent
from harbour.pii import Sealed
from schemas.intake import Centre, ExploitationTypes, Region, SignalIds

Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Postcode = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{3}$")]
Municipality = Annotated[str, StringConstraints(min_length=1, max_length=80)]


class TipSubmitted(DomainEvent):
    """An anonymous tip from the public, for the recognised centre of the region where it was seen."""

    event_type: ClassVar[str] = "TipSubmitted"
    schema_version: ClassVar[int] = 1

    tip_id: Id
    postcode: Postcode
    municipality: Municipality | None = None
    region: Region
    centre: Centre  # the region's recognised centre: the one that sees the tip as a lead
    seen_on: date | None = None
    exploitation_types: ExploitationTypes = ()
    signal_ids: SignalIds = ()
    catalogue_version: str
    description: Sealed  # what was seen, in the tipster's words
    callback: Sealed | None = None  # the optional way to call the tipster back
    submitted_on: date


class TipErasureReason(StrEnum):
    TIPSTER_REQUEST = "tipster-request"  # the tipster asked (GDPR Art. 17), e.g. on the phone to the centre
    UNFOUNDED = "unfounded"  # the centre found nothing in it: what it said of people should not stay readable
    RETENTION_ENDED = "retention-ended"


class TipErased(DomainEvent):
    """The tip's key was destroyed: what the tipster wrote and the way to call them back now read as erased; the
    facts it was routed on (postcode, kinds, signals, day) remain."""

    event_type: ClassVar[str] = "TipErased"
    schema_version: ClassVar[int] = 1

    tip_id: Id
    reason: TipErasureReason
    erased_on: date


__all__ = ["TipErased", "TipErasureReason", "TipSubmitted"]
