"""Every Harbour service, by name: where its definition lives. `harbour up` starts each as its own process."""

from __future__ import annotations

import importlib
from importlib.util import find_spec

from harbour.service import ServiceDefinition

SERVICES: dict[str, str] = {
    "intake": "services.intake.app",
    "legal": "services.legal.app",
    "tracks": "services.tracks.app",
    "housing": "services.housing.app",
    "feeds": "services.feeds.app",
    "statistics": "services.statistics.app",
    "signals": "services.signals.app",
}


def available() -> list[str]:
    """The services that exist in this tree (a service is added by its own issue)."""
    found = []
    for name, module in SERVICES.items():
        try:
            if find_spec(module) is not None:
                found.append(name)
        except ModuleNotFoundError:  # the service's package does not exist yet
            continue
    return found


def definition(name: str) -> ServiceDefinition:
    try:
        module = SERVICES[name]
    except KeyError:
        raise LookupError(f"no service named {name!r}; known: {', '.join(SERVICES)}") from None
    return importlib.import_module(module).DEFINITION
