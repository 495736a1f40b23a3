"""Audience milestones at runtime: who follows each case, the per-audience pseudonyms, and the relay route.

Every service that owns events the policy (``schemas.milestones.POLICY``) maps gets, without declaring them:
- the ``case_audiences`` projection (inline, from its own events) and the consumers that bring the other
  services' facts about a case (``<service>.case-audiences.<owner>``);
- its audience topics (``milestones.<audience>.v1``, those its events can reach), so the topic keeper, the
  deploy ACLs and the rebuild command see them like any declared part;
- a relay of its own, ``milestones:<service>``, publishing the milestones from the same event store.
A service whose events the policy does not map (feeds, a test stand-in) gets none of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harbour import telemetry
from harbour.kafka.relay import OutboxRelay
from harbour.kafka.sleep_slot import MILESTONE_SLOT
from harbour.kafka.topics import TopicSpec
from harbour.milestones.case_audiences import CASE_AUDIENCES, CaseAudiences, load_facts, upstream_subscriptions
from harbour.milestones.policy import address, published_audiences, render_markdown, source_services
from harbour.milestones.pseudonyms import Pseudonyms
from harbour.milestones.route import UNROUTED, FactsPending, MilestoneRoute
from harbour.milestones.topics import audience_topics, register_audience_topics
from harbour.settings import HarbourSettings, get_settings

if TYPE_CHECKING:
    from harbour.service import ServiceDefinition
    from harbour.store import EventStore

__all__ = [
    "CASE_AUDIENCES",
    "UNROUTED",
    "CaseAudiences",
    "FactsPending",
    "MilestoneRoute",
    "Pseudonyms",
    "address",
    "extend_definition",
    "load_facts",
    "milestone_relay",
    "milestone_topics",
    "publishes_milestones",
    "render_markdown",
]


def publishes_milestones(definition: ServiceDefinition) -> bool:
    return definition.milestones and definition.name in source_services()


def milestone_topics(service: str, settings: HarbourSettings | None = None) -> list[TopicSpec]:
    """The audience topics ``service`` may publish to (with the configured police zones)."""
    zones = (settings or get_settings()).police_zones
    register_audience_topics(zones)
    return audience_topics(published_audiences(service, zones))


def extend_definition(definition: ServiceDefinition) -> None:
    """Add the case_audiences projection, its upstream consumers and the audience topics (idempotent)."""
    if not publishes_milestones(definition):
        return
    if not any(isinstance(p, CaseAudiences) for p in definition.projections):
        definition.projections = [*definition.projections, CASE_AUDIENCES]
    consumers = {s.consumer for s in definition.subscriptions}
    extra = [s for s in upstream_subscriptions(definition.name) if s.consumer not in consumers]
    definition.subscriptions = [*definition.subscriptions, *extra]
    names = {t.name for t in definition.topics}
    definition.topics = [*definition.topics, *(t for t in milestone_topics(definition.name) if t.name not in names)]


def milestone_relay(definition: ServiceDefinition, *, store: EventStore, dsn: str, bootstrap: str,
                    settings: HarbourSettings, **extra: Any) -> OutboxRelay | None:  # fmt: skip
    """The service's milestone relay (its own checkpoint and leader lock), or None if it publishes none."""
    if not publishes_milestones(definition):
        return None
    relay = OutboxRelay(
        service=f"{definition.name}.milestones", name=f"milestones:{definition.name}", store=store, dsn=dsn,
        bootstrap=bootstrap, settings=settings, domain_topic=None,
        topics=milestone_topics(definition.name, settings), routes=[MilestoneRoute(definition.name, settings)],
        sleep_slot=MILESTONE_SLOT, **extra,
    )  # fmt: skip
    # Metrics under "<service>.milestones" (its lag is not the domain relay's); spans under the service itself.
    relay.tracer = telemetry.get_tracer(definition.name, settings)
    return relay
