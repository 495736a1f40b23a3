"""Wiring of the tracks service: ``harbour up`` runs it as its own process on port 8103."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

import milestones
from harbour.kafka.consumer import Subscription
from harbour.service import ServiceDefinition, create_app
from schemas import asyncapi_document
from schemas.tracks import TRACK_EVENTS

# handlers imports schemas.intake, schemas.legal and schemas.housing: the upstream event types are known.
from services.tracks import api, deadlines, handlers, projections

# The case_audiences projection, its consumers of the other services' facts, the audience topics, the relay.
MILESTONES = milestones.for_service("tracks")

DEFINITION = ServiceDefinition(
    name="tracks",
    title="Tracks",
    description="Guidance tracks: support areas, individual plan, sessions, transfer between centres, closure.",
    port=8103,
    asyncapi_document=asyncapi_document("tracks"),
    domain_topic="tracks.events.v1",
    migrations=Path(__file__).parent / "migrations",
    routers=[api.router],
    # case_audiences after the read models, inline in the append's transaction like them.
    projections=[*projections.PROJECTIONS, *MILESTONES.projections],
    # One consumer (group and inbox) for the three upstream topics: one group join at start-up, not three.
    # Order matters only within a case and a topic, which Kafka keeps; across topics see handlers.py (parking).
    subscriptions=[
        Subscription(
            topic="intake.events.v1",
            consumer=handlers.CONSUMER,
            handle=handlers.on_intake_event,
            event_types=handlers.INTAKE_EVENT_TYPES,
        ),
        Subscription(
            topic="legal.events.v1",
            consumer=handlers.CONSUMER,
            handle=handlers.on_legal_event,
            event_types=handlers.LEGAL_EVENT_TYPES,
        ),
        Subscription(
            topic="housing.events.v1",
            consumer=handlers.CONSUMER,
            handle=handlers.on_housing_event,
            event_types=handlers.HOUSING_EVENT_TYPES,
        ),
        *MILESTONES.subscriptions,
    ],
    topics=MILESTONES.topics,
    milestone_route=MILESTONES.route,
    timer_handlers={
        deadlines.REMINDER: handlers.on_review_reminder,
        deadlines.OVERDUE: handlers.on_review_overdue,
    },
    published_events=TRACK_EVENTS,
)


def create() -> FastAPI:
    """The tracks service as an ASGI app (``uvicorn --factory services.tracks.app:create``)."""
    return create_app(DEFINITION)
