"""Feeds consumes every audience topic through the inbox (raw mode: milestones are not domain events)."""

from __future__ import annotations

from uuid import UUID

from harbour.kafka.consumer import HandlerContext, RawMessage, Subscription
from schemas.milestones import Milestone, milestone_topic
from services.feeds import projections
from services.feeds.domain import audiences, check_addressed

CONSUMER = "feeds.milestones"  # the consumer group and the inbox name


def decode(message: RawMessage) -> Milestone:
    """The milestone a record carries; ValueError (dead letter) when it is invalid or on the wrong topic."""
    milestone = Milestone.model_validate_json(message.value)
    check_addressed(milestone, message.topic)
    return milestone


def milestone_id(message: RawMessage) -> UUID:
    """The inbox key: stable per (source event, audience), so a redelivery is recognised."""
    return decode(message).milestone_id


async def on_milestone(ctx: HandlerContext, message: RawMessage) -> None:
    """Stores a milestone in its audience's feed, under the next cursor of that feed."""
    await projections.store(ctx.conn, decode(message), topic=message.topic, partition=message.partition,
                            offset=message.offset)  # fmt: skip


def subscriptions() -> list[Subscription]:
    # One subscription per audience topic (so the runtime creates each topic and its dead-letter topic, and
    # deploy grants a read on each), all under one consumer name: the runtime reads them with one Kafka
    # consumer, in one group, with one inbox.
    return [
        Subscription(
            topic=milestone_topic(audience),
            consumer=CONSUMER,
            handle=on_milestone,
            raw=True,
            message_id=milestone_id,
            description="Stores each audience's milestones in its feed.",
        )
        for audience in audiences()
    ]
