"""Wiring of the feeds service: ``harbour up`` runs it as its own process on port 8105."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from harbour.service import ServiceDefinition, create_app
from schemas import asyncapi_document
from services.feeds import api, handlers
from services.feeds.webhooks import api as webhooks

DEFINITION = ServiceDefinition(
    name="feeds",
    title="Feeds",
    description="Audience milestone feeds over HTTP (cursor pages, server-sent events) for offices without Kafka.",
    port=8105,
    asyncapi_document=asyncapi_document("feeds"),
    domain_topic=None,
    migrations=Path(__file__).parent / "migrations",
    routers=[api.router, webhooks.router],
    subscriptions=handlers.subscriptions(),  # no milestones.for_service: it owns no event the policy maps
)


def create() -> FastAPI:
    """The feeds service as an ASGI app (``uvicorn --factory services.feeds.app:create``)."""
    return create_app(DEFINITION)
