"""Audience milestones: what each agency receives about the cases it is involved in, and nothing more.

A milestone is published to ``milestones.<audience>.v1`` (one topic per audience, so Kafka ACLs enforce who
reads what), keyed by the audience's own pseudonymous case reference. It never carries personal data: the
pseudonym, the audience's own file number where it has one, dates, states and reasons from closed lists.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

# Values a milestone field may take: plain, closed-list or date values (never free text about a person).
FieldValue = str | int | bool | date | None


class MilestoneType(StrEnum):
    REFERRAL_RECEIVED = "referral-received"
    REFERRAL_TAKEN_UP = "referral-taken-up"
    REFERRAL_DECLINED = "referral-declined"
    REFLECTION_PERIOD_STARTED = "reflection-period-started"
    REFLECTION_PERIOD_EXPIRING = "reflection-period-expiring"
    REFLECTION_PERIOD_ENDED = "reflection-period-ended"
    STATEMENT_MADE = "statement-made"
    PROVISIONAL_STAY_GRANTED = "provisional-stay-granted"
    TEMPORARY_STAY_GRANTED = "temporary-stay-granted"
    UNLIMITED_STAY_GRANTED = "unlimited-stay-granted"
    STAY_RENEWED = "stay-renewed"
    STAY_REFUSED = "stay-refused"
    STAY_EXPIRING = "stay-expiring"
    STATUS_ENDED = "status-ended"
    MAGISTRATE_OPINION_REQUESTED = "magistrate-opinion-requested"
    HEARING_SCHEDULED = "hearing-scheduled"
    HEARING_STAY_AT_RISK = "hearing-stay-at-risk"
    CIVIL_PARTY_JOINED = "civil-party-joined"
    VERDICT_DELIVERED = "verdict-delivered"
    GUARDIANSHIP_REFERRAL = "guardianship-referral"
    TRACK_TRANSFERRED = "track-transferred"
    TRACK_CLOSED = "track-closed"
    HOUSING_SECURED = "housing-secured"


class Milestone(BaseModel):
    """One milestone as an audience receives it (the value of a message on ``milestones.<audience>.v1``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    milestone_id: UUID = Field(description="stable per (source event, audience): a redelivery has the same id")
    milestone: MilestoneType
    audience: str
    case_ref: str = Field(description="pseudonymous case reference, stable for this audience only")
    file_number: str | None = Field(None, description="the audience's own file number, where it has one")
    occurred_on: date
    recorded_at: datetime
    source: str = Field(description="the service whose event this milestone reports")
    data: dict[str, FieldValue] = Field(default_factory=dict, description="only the fields the policy grants")


def milestone_topic(audience: str) -> str:
    return f"milestones.{audience}.v1"
