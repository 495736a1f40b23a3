"""The topic keeper (harbour.kafka.topics.TopicKeeper) against the real broker: it finds a kept topic the broker
does not have without the question creating it, and creates it with the table's partitions."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from harbour.kafka.topics import TopicKeeper, TopicSpec, ensure_topics

pytestmark = pytest.mark.integration


async def partitions(bootstrap: str, name: str) -> int | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if name not in await admin.list_topics():
            return None
        [topic] = await admin.describe_topics([name])
        return len(topic["partitions"])
    finally:
        await admin.close()


async def test_a_kept_topic_the_broker_lacks_is_missing_and_asking_about_it_does_not_create_it(running_broker):
    run = uuid.uuid4().hex[:8]
    there, gone = TopicSpec(f"test.kept.{run}.there", 3, "case id"), TopicSpec(f"test.kept.{run}.gone", 4, "case id")
    await ensure_topics(running_broker.bootstrap, [there])
    keeper = TopicKeeper(running_broker.bootstrap, [there, gone])
    try:
        assert await keeper.missing() == [gone.name]
        assert await keeper.missing() == [gone.name]
        # Had the question created it, the broker would hold it with its own default partition count.
        assert await partitions(running_broker.bootstrap, gone.name) is None
        assert await keeper.ensure() == [gone.name]
        assert await keeper.missing() == []
        assert await partitions(running_broker.bootstrap, gone.name) == 4
        assert await partitions(running_broker.bootstrap, there.name) == 3
    finally:
        await keeper.close()


async def test_a_keeper_of_no_topics_has_nothing_missing(running_broker):
    keeper = TopicKeeper(running_broker.bootstrap, [])
    try:
        assert await keeper.missing() == []
    finally:
        await keeper.close()
