"""The bodies of the housing API: the requests (unknown fields are a 422) and the answers. A shelter's address is
never in an answer but the audited address read's (``ShelterAddress``), a person's only in ``IndependentAddress``."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from schemas.housing import (
    BedConstraint,
    CrossCentreDeclineReason,
    ExitReason,
    HousingKind,
    Urgency,
    WithdrawalReason,
)
from schemas.intake import Centre

BedId = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")


class BedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bed_id: str = BedId
    constraints: frozenset[BedConstraint] = frozenset()


class RegisterShelter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=80)
    # SecretStr: the address never shows in a repr, a traceback's locals or a validation error.
    address: SecretStr = Field(min_length=3, max_length=300)
    beds: list[BedIn] = Field(min_length=1, max_length=200)


class ShelterOut(BaseModel):
    shelter_id: str
    centre: str
    name: str
    beds: int


class AddBed(BedIn):
    on: date | None = None  # default: today where the shelter is


class BedDate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on: date | None = None


class ShelterAddress(BaseModel):
    shelter_id: str
    address: str


class PlacementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    needs: frozenset[BedConstraint] = frozenset()
    urgency: Urgency = Urgency.URGENT


class CrossCentreIn(PlacementIn):
    host_centre: Centre


class Outcome(BaseModel):
    request_id: str
    case_id: str
    status: Literal["assigned", "waitlisted", "awaiting-acceptance", "declined", "withdrawn"]
    shelter_id: str | None = None
    bed_id: str | None = None
    position: int | None = None
    waiting: int | None = None


class DeclineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: CrossCentreDeclineReason
    on: date | None = None


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: WithdrawalReason
    on: date | None = None


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on: date | None = None


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: Literal[HousingKind.TRANSITIONAL, HousingKind.INDEPENDENT]
    on: date | None = None
    # The person's own address (independent housing only): sealed under their key before it is stored.
    address: SecretStr | None = Field(default=None, min_length=3, max_length=300)


class ExitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: ExitReason
    on: date | None = None


class PathOut(BaseModel):
    case_id: str
    stage: HousingKind | None
    since: date | None


class Counts(BaseModel):
    beds: int
    in_service: int
    occupied: int
    free: int


class ShelterOccupancy(Counts):
    shelter_id: str
    name: str


class Occupancy(BaseModel):
    """A page of the centre's shelters, by name, with the totals of all of them (the same on every page)."""

    centre: str
    totals: Counts
    items: list[ShelterOccupancy]
    next: str | None = Field(description="pass as ?after= for the next page; null on the last page")


class DayOccupancy(BaseModel):
    day: date
    totals: Counts
    shelters: dict[str, Counts]


class OccupancyHistory(BaseModel):
    """A page of days of the period asked for, earliest first."""

    centre: str
    since: date
    until: date
    items: list[DayOccupancy]
    next: str | None = Field(description="pass as ?after= (with the same since and until) for the next page; "
                                         "null on the last page")  # fmt: skip


class CentreFreeBeds(Counts):
    centre: str


class WaitingRequest(BaseModel):
    request_id: str
    case_id: str
    from_centre: str
    needs: list[str]
    urgency: str
    requested_at: str
    position: int


WaitingStatus = Literal["waiting", "awaiting-acceptance"]


class WaitingList(BaseModel):
    """A page of one of the centre's two queues, in serving order."""

    centre: str
    status: WaitingStatus
    items: list[WaitingRequest]
    next: str | None = Field(description="pass as ?after= for the next page; null on the last page")


class HistoryEntry(BaseModel):
    at: str  # when it was recorded
    event_type: str
    on: date | None = None
    request_id: str | None = None
    centre: str | None = None
    shelter_id: str | None = None
    bed_id: str | None = None
    to: str | None = None
    reason: str | None = None
    position: int | None = None
    has_address: bool = False  # the address itself only through the audited independent-address endpoint


class CaseHistory(BaseModel):
    """A page of the case's housing history, in the order it was recorded."""

    case_id: str
    items: list[HistoryEntry]
    next: str | None = Field(description="pass as ?after= for the next page; null on the last page")


class IndependentAddress(BaseModel):
    case_id: str
    since: date
    address: str
