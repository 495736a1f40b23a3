"""Wiring of the legal service: ``harbour up`` runs it as its own process on port 8102."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

import milestones
from harbour.kafka.consumer import Subscription
from harbour.service import ServiceDefinition, create_app
from schemas import asyncapi_document
from schemas.legal import LEGAL_EVENTS
from services.legal import api, custody, handlers, projections
from services.legal.api import stay
from services.legal.timekeeping import EXPIRY, HEARING_CHECK, REMINDER

# The case_audiences projection, its consumers of the other services' facts, the audience topics, the relay.
MILESTONES = milestones.for_service("legal")

DEFINITION = ServiceDefinition(
    name="legal",
    title="Legal",
    description=(
        "The victim-status residence procedure (Annex 15, attestation of immatriculation, A-card, B-card) the "
        "centre drives with the Immigration Office, and the criminal proceedings in which the person is a "
        "witness and possibly a civil party. Deadlines produce reminder, expiry and hearing-warning events "
        "through durable timers."
    ),
    port=8102,
    asyncapi_document=asyncapi_document("legal"),
    domain_topic="legal.events.v1",
    migrations=Path(__file__).parent / "migrations",
    routers=[api.router],
    # custody after legal_cases (it corrects centre); case_audiences last, inline in the append's transaction too.
    projections=[*projections.PROJECTIONS, custody.CASE_CUSTODY, *MILESTONES.projections],
    subscriptions=[
        Subscription(
            topic="intake.events.v1",
            consumer="legal.case-opened",
            handle=handlers.on_intake_fact,
            # One consumer for intake's case facts keeps them in intake's order (a case's events share a partition).
            event_types=frozenset({"CaseOpened", "MinorityEstablished", "MinorityDisproved"}),
            description="Follow an admitted case and open its residence procedure (not for EU citizens); apply "
            "a minority established or disproved later (an unaccompanied minor's reflection lasts three months).",
        ),
        Subscription(
            topic="tracks.events.v1",
            consumer="legal.transfer-accepted",
            handle=custody.on_transfer_accepted,
            event_types=frozenset({"TransferAccepted"}),
            description="A transfer accepted: the receiving centre holds the residence file and proceedings.",
        ),
        *MILESTONES.subscriptions,
    ],
    topics=MILESTONES.topics,
    milestone_route=MILESTONES.route,
    timer_handlers={
        REMINDER: handlers.on_document_reminder,
        EXPIRY: handlers.on_document_expiry,
        HEARING_CHECK: handlers.on_hearing_check,
    },
    published_events=list(LEGAL_EVENTS),
    gauges=[stay.refresh_gauges],
)


def create() -> FastAPI:
    """The app as a process runs it (``uvicorn --factory services.legal.app:create``)."""
    return create_app(DEFINITION)
