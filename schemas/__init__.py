"""The published language: event and milestone contracts, and the committed documents `harbour schemas export`
writes beside them (jsonschema/, asyncapi/, contracts.lock.json)."""

from __future__ import annotations

from pathlib import Path

ASYNCAPI_DIR = Path(__file__).parent / "asyncapi"


def asyncapi_document(service: str) -> Path:
    """A service's committed AsyncAPI document, the one its /asyncapi page renders."""
    return ASYNCAPI_DIR / f"{service}.json"
