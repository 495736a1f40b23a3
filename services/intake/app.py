"""Wiring of the intake service (``harbour up`` runs it on port 8101)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

import milestones
from harbour.service import ServiceDefinition, create_app
from schemas import asyncapi_document
from schemas import intake as contracts
from services.intake import api, handlers, projections

# The case_audiences projection, its consumers of the other services' facts, the audience topics, the relay.
MILESTONES = milestones.for_service("intake")

PUBLISHED_EVENTS = (
    contracts.ReferralSubmitted,
    contracts.ReferralScreened,
    contracts.ReferralAccepted,
    contracts.ReferralDeclined,
    contracts.ReferralRedirected,
    contracts.IntakeInterviewHeld,
    contracts.ConsentGiven,
    contracts.ConsentWithdrawn,
    contracts.IdentityCaptured,
    contracts.CaseProfiled,
    contracts.MinorFlagged,
    contracts.GuardianshipReferralRequested,
    contracts.MinorityEstablished,
    contracts.MinorityDisproved,
    contracts.CaseOpened,
    contracts.PersonErased,
    contracts.LeadOpened,
    contracts.LeadTakenUp,
    contracts.LeadClosed,
)

DEFINITION = ServiceDefinition(
    name="intake",
    title="Intake",
    description=(
        "Referrals of possible victims by first-line services, signal screening, the centre's decision, "
        "admission (which opens the case), the person's identity under a key per person, erasure and read audit, "
        "and the leads tips from the public become for the centre of their region."
    ),
    port=8101,
    asyncapi_document=asyncapi_document("intake"),
    domain_topic="intake.events.v1",
    migrations=Path(__file__).parent / "migrations",
    routers=[api.router],
    # case_audiences after the read models, inline in the append's transaction like them.
    projections=[*projections.PROJECTIONS, *MILESTONES.projections],
    subscriptions=[*handlers.SUBSCRIPTIONS, *MILESTONES.subscriptions],
    topics=MILESTONES.topics,
    published_events=PUBLISHED_EVENTS,
    milestone_route=MILESTONES.route,
)


def create() -> FastAPI:
    """The intake app as a process runs it (settings from the environment)."""
    return create_app(DEFINITION)
