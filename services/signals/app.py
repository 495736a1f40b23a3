"""Wiring of the signals service: ``harbour up`` runs it as its own process on port 8107.

The only part of Harbour meant to face the internet: the public signal check, the page for front-line
professionals and the anonymous tip line. It holds no case data; its store holds tips (``TipSubmitted``, topic
``signals.events.v1``), the tip text and the callback contact sealed under each tip's own key."""

from __future__ import annotations

from fastapi import FastAPI

from harbour.service import ServiceDefinition, create_app
from schemas import asyncapi_document
from schemas.signals import TipErased, TipSubmitted
from services.signals import api
from services.signals.privacy import front

DEFINITION = ServiceDefinition(
    name="signals",
    title="Signals",
    description="The public signal check and the anonymous tip line (server-rendered pages; no case data).",
    port=8107,
    asyncapi_document=asyncapi_document("signals"),
    domain_topic="signals.events.v1",
    routers=[api.router],
    published_events=[TipSubmitted, TipErased],
    front=front,  # the client's address, user agent and cookies never get past the front door
)


def create() -> FastAPI:
    """The signals service as an ASGI app (``uvicorn --factory services.signals.app:create``)."""
    return create_app(DEFINITION)
