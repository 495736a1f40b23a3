"""The milestone route: for each stored event the policy maps, one message per audience of its case.

Runs in a relay of its own (``milestones:<service>``) over the service's event store, so nothing is published
that is not stored and each audience sees a case's milestones in store order.

When the facts of a case are not known yet (housing stores ``BedAssigned`` before its consumer of intake's
``CaseOpened`` has caught up, say), the route raises ``FactsPending``: the relay publishes the events before
that one and tries it again a moment later, keeping its connection and producer. Publishing at once
would send the milestone to nobody, and skipping ahead would break the per-case order. The wait is bounded
(``milestone_fact_wait_seconds`` after this relay first found the facts missing, which for a fresh event is
when it was recorded; counted from there and not from ``recorded_at`` so that a first start or a replay over
old events still waits for the consumers to catch up): then the milestone goes to the audiences known, the
rest is counted in ``harbour_milestones_unrouted_total`` (an alert, never silence), and the relay moves on,
so one case whose facts never come cannot stop every other case's milestones. A relay of its own means that
wait never delays the service's domain events.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from uuid import UUID, uuid5

from prometheus_client import Counter

from harbour.db import Connection
from harbour.kafka.relay import OutgoingMessage, RouteNotReady
from harbour.settings import HarbourSettings
from harbour.store import RecordedEvent
from milestones.case_audiences import load_facts
from milestones.policy import Addressed, address, match, source_event_types
from milestones.pseudonyms import Pseudonyms
from schemas.milestones import POLICY, CaseFacts, Milestone, milestone_topic

log = logging.getLogger("harbour.milestones")

UNROUTED = Counter("harbour_milestones_unrouted_total", "Milestones an audience of the case did not receive",
                   ["service", "milestone", "role", "why"])  # fmt: skip


class FactsPending(RouteNotReady):
    """The case's audiences are not known yet: the relay publishes what comes before and retries this event."""


class MilestoneRoute:
    """A relay ``Route``: ``await route(conn, event)`` gives the milestone messages of one stored event."""

    def __init__(self, service: str, settings: HarbourSettings, pseudonyms: Pseudonyms | None = None) -> None:
        self.service = service
        self.zones = tuple(settings.police_zones)
        self.wait_seconds = settings.milestone_fact_wait_seconds
        self.pseudonyms = pseudonyms or Pseudonyms.from_settings(settings)
        self.event_types = source_event_types(service)
        self._missing_since: dict[UUID, float] = {}
        # Every (milestone, role) this service can miss is exported from the start at 0: an alert on an increase
        # then sees the first miss, and a dashboard shows "none missed" rather than "no data".
        for rule in POLICY:
            if any(source.service == service for source in rule.sources):
                for role in rule.grants:
                    for why in ("no-audience", "facts-unknown"):
                        UNROUTED.labels(service, rule.milestone.value, role.value, why)

    async def __call__(self, conn: Connection, recorded: RecordedEvent) -> Sequence[OutgoingMessage]:
        if recorded.event_type not in self.event_types:
            return []
        event = recorded.event
        found = match(event)
        if found is None:
            return []
        known = await self._facts(conn, recorded)
        if known is None:
            # Waited long enough and still nobody is known: every role of the rule is counted as missed.
            for role in found[0].grants:
                UNROUTED.labels(self.service, found[0].milestone.value, role.value, "facts-unknown").inc()
            log.warning("milestone %s of event %s published to nobody: the case's audiences never became known",
                        found[0].milestone.value, recorded.event_id)  # fmt: skip
            return []
        root_id, facts = known
        addressing = address(event, facts, self.zones)
        for role in addressing.unrouted:
            UNROUTED.labels(self.service, found[0].milestone.value, role.value, "no-audience").inc()
        return [self._message(recorded, root_id, a) for a in addressing.addressed]

    async def _facts(self, conn: Connection, recorded: RecordedEvent) -> tuple[str, CaseFacts] | None:
        # Only the event the relay is stuck on is remembered: the relay tries it again until it passes.
        first_missed = self._missing_since.setdefault(recorded.event_id, time.monotonic())
        known = await load_facts(conn, recorded.case_id)
        if known is not None or time.monotonic() - first_missed >= self.wait_seconds:
            self._missing_since.pop(recorded.event_id, None)
            return known
        # Not waiting here: the relay first publishes the events before this one, then tries it again.
        raise FactsPending(f"audiences of the case of event {recorded.event_id} not known yet")

    def _message(self, recorded: RecordedEvent, root_id: str, addressed: Addressed) -> OutgoingMessage:
        case_ref = self.pseudonyms.case_ref(addressed.audience, root_id)
        milestone = Milestone(
            milestone_id=uuid5(recorded.event_id, addressed.audience),
            milestone=addressed.milestone,
            audience=addressed.audience,
            case_ref=case_ref,
            file_number=addressed.file_number,
            occurred_on=addressed.occurred_on,
            recorded_at=recorded.recorded_at,
            source=addressed.source,
            data=addressed.data,
        )
        # Headers say what the message is, never whose: no case id, no stream id, no actor.
        headers = [
            ("milestone", milestone.milestone.value.encode()),
            ("milestone_id", str(milestone.milestone_id).encode()),
            ("audience", milestone.audience.encode()),
            ("source", milestone.source.encode()),
            ("content-type", b"application/json"),
        ]
        return OutgoingMessage(milestone_topic(addressed.audience), case_ref.encode(),
                               milestone.model_dump_json().encode(), headers)  # fmt: skip
