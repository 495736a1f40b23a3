"""Wiring of the statistics service: ``harbour up`` runs it as its own process on port 8106."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from harbour.service import ServiceDefinition, create_app
from schemas import asyncapi_document
from schemas.statistics import STATISTICS_EVENTS
from services.statistics import api, handlers, projections

DEFINITION = ServiceDefinition(
    name="statistics",
    title="Statistics",
    description=(
        "Anonymised figures for the national rapporteur (Myria) and Eurostat: a de-identified fact table "
        "consumed from the domain topics, and immutable, versioned releases of standard tables under "
        "disclosure control (k-threshold with complementary suppression), as JSON, CSV and a report page."
    ),
    port=8106,
    asyncapi_document=asyncapi_document("statistics"),
    domain_topic="statistics.events.v1",
    migrations=Path(__file__).parent / "migrations",
    routers=[api.router],
    projections=projections.PROJECTIONS,
    subscriptions=handlers.SUBSCRIPTIONS,
    published_events=list(STATISTICS_EVENTS),
)


def create() -> FastAPI:
    """The app as a process runs it (``uvicorn --factory services.statistics.app:create``)."""
    return create_app(DEFINITION)
