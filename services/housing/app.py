"""Wiring of the housing service (port 8104, topic ``housing.events.v1``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

import milestones
from harbour.kafka.consumer import Subscription
from harbour.service import ServiceDefinition, create_app
from schemas import asyncapi_document
from schemas import housing as contracts
from services.housing import api, handlers, projections

# The case_audiences projection, its consumers of the other services' facts, the audience topics, the relay.
MILESTONES = milestones.for_service("housing")

DEFINITION = ServiceDefinition(
    name="housing",
    title="Housing",
    description="Shelters and their beds (addresses kept secret), placements, the waiting list, moves on.",
    port=8104,
    asyncapi_document=asyncapi_document("housing"),
    domain_topic="housing.events.v1",
    migrations=Path(__file__).parent / "migrations",
    routers=[api.router],
    # case_audiences after the read models, inline in the append's transaction like them.
    projections=[*projections.PROJECTIONS, *MILESTONES.projections],
    subscriptions=[
        Subscription(
            topic="intake.events.v1",
            consumer="housing.case-opened",
            handle=handlers.on_case_opened,
            event_types=frozenset({"CaseOpened"}),
        ),
        Subscription(
            topic="intake.events.v1",
            consumer="housing.person-erased",
            handle=handlers.on_person_erased,
            event_types=frozenset({"PersonErased"}),
        ),
        Subscription(
            topic="tracks.events.v1",
            consumer="housing.transfer-accepted",
            handle=handlers.on_transfer_accepted,
            event_types=frozenset({"TransferAccepted"}),
        ),
        *MILESTONES.subscriptions,
    ],
    topics=MILESTONES.topics,
    milestone_route=MILESTONES.route,
    published_events=[
        contracts.ShelterRegistered,
        contracts.BedAdded,
        contracts.BedTakenOutOfService,
        contracts.BedReturnedToService,
        contracts.PlacementRequested,
        contracts.CrossCentrePlacementRequested,
        contracts.CrossCentrePlacementAccepted,
        contracts.CrossCentrePlacementDeclined,
        contracts.BedAssigned,
        contracts.PlacementWaitlisted,
        contracts.WaitlistServed,
        contracts.PlacementRequestWithdrawn,
        contracts.PlacementExited,
        contracts.PersonMoved,
        contracts.HousingEnded,
    ],
)


def create() -> FastAPI:
    """The housing process (``harbour up`` runs it)."""
    return create_app(DEFINITION)
