"""Audience milestones at runtime: who follows each case, the per-audience pseudonyms, and the relay route.

A package of its own between the schemas and the services (``harbour`` ← ``schemas`` ← ``milestones`` ←
``services``, checked by ``lint-imports``): it reads the policy, the audiences and the upstream facts from
``schemas/``, and gives the runtime only parts of the kinds it runs anyway (a projection, subscriptions, topics, a
relay plan), so the runtime knows nothing of milestones.

A service that owns events the policy (``schemas.milestones.POLICY``) maps declares, in its ``app.py``, the
pieces ``for_service(<name>)`` gives (nothing is added behind its back):
- ``projections``: the ``case_audiences`` projection (inline, from its own events; listed after the service's own
  projections, it runs in the append's transaction like them);
- ``subscriptions``: the consumers that bring the other services' facts about a case
  (``<service>.case-audiences.<owner>``);
- ``topics``: its audience topics (``milestones.<audience>.v1``, those its events can reach), so the topic keeper,
  the deploy ACLs and the rebuild command see them like any declared part;
- ``route``: a relay of its own, ``milestones:<service>``, publishing the milestones from the same event store.
A service whose events the policy does not map (feeds, a test stand-in) declares none of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harbour import telemetry
from harbour.kafka.relay import OutboxRelay
from harbour.kafka.topics import TopicSpec
from harbour.settings import HarbourSettings, get_settings
from milestones.case_audiences import CASE_AUDIENCES, CaseAudiences, load_facts, upstream_subscriptions
from milestones.policy import address, published_audiences, render_markdown, source_services
from milestones.pseudonyms import Pseudonyms
from milestones.route import UNROUTED, FactsPending, MilestoneRoute
from milestones.topics import audience_topics, register_audience_topics

if TYPE_CHECKING:
    from harbour.kafka.consumer import Subscription
    from harbour.projection import Projection
    from harbour.store import EventStore

# The milestone relay's sleep slot (harbour.kafka.sleep_slot): next to the domain relay's 1 in the same database.
MILESTONE_SLOT = 2

__all__ = [
    "CASE_AUDIENCES",
    "MILESTONE_SLOT",
    "UNROUTED",
    "CaseAudiences",
    "FactsPending",
    "MilestoneRelay",
    "MilestoneRoute",
    "Pseudonyms",
    "ServiceMilestones",
    "address",
    "for_service",
    "load_facts",
    "milestone_topics",
    "render_markdown",
]


def milestone_topics(service: str, settings: HarbourSettings | None = None) -> list[TopicSpec]:
    """The audience topics ``service`` may publish to (with the configured police zones)."""
    zones = (settings or get_settings()).police_zones
    register_audience_topics(zones)
    return audience_topics(published_audiences(service, zones))


@dataclass(frozen=True)
class MilestoneRelay:
    """The relay ``milestones:<service>`` (a ``harbour.service.RelayPlan``): its own checkpoint and leader lock."""

    service: str

    def relay(self, *, store: EventStore, dsn: str, bootstrap: str, settings: HarbourSettings) -> OutboxRelay:
        # The topics and the route from the runtime's settings (police zones, pseudonym keys), not the import's.
        relay = OutboxRelay(
            service=f"{self.service}.milestones", name=f"milestones:{self.service}", store=store, dsn=dsn,
            bootstrap=bootstrap, settings=settings, domain_topic=None,
            topics=milestone_topics(self.service, settings), routes=[MilestoneRoute(self.service, settings)],
            sleep_slot=MILESTONE_SLOT,
        )  # fmt: skip
        # Metrics under "<service>.milestones" (its lag is not the domain relay's); spans under the service itself.
        relay.tracer = telemetry.get_tracer(self.service, settings)
        return relay


@dataclass(frozen=True)
class ServiceMilestones:
    """What a publishing service declares for its milestones (see the module's docstring)."""

    projections: tuple[Projection, ...]
    subscriptions: tuple[Subscription, ...]
    topics: tuple[TopicSpec, ...]
    route: MilestoneRelay


def for_service(service: str, settings: HarbourSettings | None = None) -> ServiceMilestones:
    """The milestone pieces of ``service``, one of the services the policy maps events from."""
    if service not in source_services():
        raise ValueError(f"the milestone policy maps no event of {service!r}: it publishes no milestones")
    return ServiceMilestones(
        projections=(CASE_AUDIENCES,),
        subscriptions=tuple(upstream_subscriptions(service)),
        topics=tuple(milestone_topics(service, settings)),
        route=MilestoneRelay(service),
    )
