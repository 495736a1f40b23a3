"""Put real events of another service on its real domain topic, through a real store and relay.

A legal, tracks or housing test that needs intake's ``CaseOpened`` on ``intake.events.v1`` uses this instead
of a mock: the events are stored, relayed with their full envelope, and consumed like any other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from harbour.events import DomainEvent
from harbour.service import ServiceDefinition, ServiceRuntime
from harbour.store import Actor, CommandContext, RecordedEvent
from tests.support.harness import running_service


class Upstream:
    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime

    async def publish(
        self,
        stream_id: str,
        case_id: str,
        events: Sequence[DomainEvent],
        *,
        actor: Actor | None = None,
    ) -> list[RecordedEvent]:
        """Append ``events`` to ``stream_id`` and relay them to the domain topic before returning."""
        recorded = await self.runtime.store.append(
            stream_id=stream_id,
            stream_type=stream_id.split("-", 1)[0],
            case_id=case_id,
            expected_version=None,
            events=list(events),
            context=CommandContext(actor=actor or Actor("centre-payoke", "caseworker", "upstream")),
        )
        await self.runtime.relay.drain()
        return recorded


@asynccontextmanager
async def upstream(service: str, *, pg_server_url: str, bootstrap: str) -> AsyncIterator[Upstream]:
    """A stand-in for ``service`` publishing on ``<service>.events.v1`` (its real topic and envelope)."""
    definition = ServiceDefinition(
        name=f"{service}-upstream",
        title=f"{service} (upstream for tests)",
        description="publishes real events for a consumer under test",
        port=0,
        domain_topic=f"{service}.events.v1",
    )
    async with running_service(definition, pg_server_url=pg_server_url, bootstrap=bootstrap, background=False) as run:
        yield Upstream(run.runtime)
