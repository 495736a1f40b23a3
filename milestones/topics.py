"""The audience topics of case milestones (``milestones.<audience>.v1``), as rows of the platform's topic table.

Here rather than in ``schemas.audiences``: the schemas name the audiences and their topics; sizing the topics and
registering them in the runtime's topic table is done here (the topic keeper, the deploy ACLs and the rebuild command
read that table). Importing this module registers every audience topic with the configured police zones, as
importing ``schemas.audiences`` did before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from harbour.kafka.topics import TopicSpec, register_topics
from harbour.settings import get_settings
from schemas.audiences import all_audiences, milestone_topic

# Few messages per audience (hundreds of cases a year per office), keyed by case reference so that one
# case stays in order; as many partitions as the domain topics, so a consumer group scales out the same way.
AUDIENCE_PARTITIONS = 4
AUDIENCE_TOPIC_KEY = "audience case reference"


def audience_topics(audiences: Sequence[str] | None = None) -> list[TopicSpec]:
    """The topic of each audience (all of them, with the configured zones, by default)."""
    chosen = all_audiences(get_settings().police_zones) if audiences is None else audiences
    return [
        TopicSpec(milestone_topic(a), AUDIENCE_PARTITIONS, AUDIENCE_TOPIC_KEY, description=f"milestones for {a} only")
        for a in chosen
    ]


def register_audience_topics(zones: Iterable[str] | None = None) -> list[TopicSpec]:
    """Add every audience topic to the topic table (idempotent; a runtime calls it with its own zones)."""
    specs = audience_topics(all_audiences(get_settings().police_zones if zones is None else zones))
    register_topics(specs)
    return specs


register_audience_topics()
