"""A consumer's bookmarks (harbour.kafka.commits): never ahead of what was handled, and one commit for many records.

The consumer here is a recorder of the two calls the bookmarks make on aiokafka's consumer (``commit`` with
explicit offsets, ``seek``); the real consumer under a real broker is exercised by every integration and fault
test that reads a topic (tests/faults: records killed, lost, poisoned; none lost, none applied twice).
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaConnectionError

from harbour.kafka.commits import OffsetCommits


class Recorder:
    def __init__(self, refuse: int = 0, unassigned: frozenset[TopicPartition] = frozenset(), hang: int = 0) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.refuse = refuse
        self.unassigned = unassigned
        self.hang = hang

    async def commit(self, offsets: dict) -> None:
        if self.hang:
            self.hang -= 1
            await asyncio.Event().wait()  # no coordinator: aiokafka keeps retrying
        if self.refuse:
            self.refuse -= 1
            raise KafkaConnectionError("the broker is away")
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})

    def seek(self, partition: TopicPartition, offset: int) -> None:
        if partition in self.unassigned:
            raise IllegalStateError("not assigned")
        self.seeks.append((partition, offset))


def record(partition: int, offset: int, topic: str = "t") -> ConsumerRecord:
    return ConsumerRecord(topic, partition, offset, 0, 0, None, b"v", None, 0, 1, [])


def tp(partition: int, topic: str = "t") -> TopicPartition:
    return TopicPartition(topic, partition)


async def test_records_handled_within_the_delay_go_out_in_one_commit_each_the_offset_after_its_record():
    consumer, commits = Recorder(), OffsetCommits(delay=0.05)
    for r in (record(0, 0), record(0, 1), record(1, 7), record(0, 2)):
        await commits.acknowledger(consumer, r).commit()
    assert consumer.commits == []  # nothing yet: the bookmarks wait for the ones handled after them
    await asyncio.sleep(0.2)
    assert consumer.commits == [{tp(0): 3, tp(1): 8}]


async def test_a_record_sent_back_by_a_nack_is_not_bookmarked_and_its_partition_stands_at_it():
    consumer, commits = Recorder(), OffsetCommits(delay=10)
    await commits.acknowledger(consumer, record(0, 4)).commit()
    failed = commits.acknowledger(consumer, record(0, 5))
    failed.seek(partition=tp(0), offset=5)  # FastStream's nack, by keyword
    await failed.commit()  # what an ack after the seek would do: nothing for this record
    await commits.close()
    assert consumer.seeks == [(tp(0), 5)]
    assert consumer.commits == [{tp(0): 5}]


async def test_a_partition_rewound_to_its_start_is_bookmarked_at_0_not_at_the_record_that_asked():
    consumer, commits = Recorder(), OffsetCommits(delay=10)
    await commits.acknowledger(consumer, record(0, 300)).commit()
    await commits.acknowledger(consumer, record(1, 9)).commit()
    newer_epoch = commits.acknowledger(consumer, record(0, 301))
    newer_epoch.seek(tp(0), 0)  # harbour.kafka.rebuild: the relay published its store again
    await newer_epoch.commit()
    await commits.close()
    assert consumer.commits == [{tp(0): 0, tp(1): 10}]


async def test_a_seek_on_a_partition_no_longer_assigned_raises_and_moves_no_bookmark():
    consumer, commits = Recorder(unassigned=frozenset({tp(2)})), OffsetCommits(delay=10)
    await commits.acknowledger(consumer, record(2, 40)).commit()
    with pytest.raises(IllegalStateError):
        commits.acknowledger(consumer, record(2, 41)).seek(tp(2), 0)
    await commits.close()
    assert consumer.commits == [{tp(2): 41}]


async def test_a_refused_commit_is_sent_again_with_the_next_and_a_newer_bookmark_of_its_partition_wins():
    consumer, commits = Recorder(refuse=1), OffsetCommits(delay=10)
    await commits.acknowledger(consumer, record(0, 1)).commit()
    await commits.acknowledger(consumer, record(1, 1)).commit()
    await commits.flush()  # refused: the broker is away
    await commits.acknowledger(consumer, record(0, 2)).commit()
    await commits.flush()
    assert consumer.commits == [{tp(0): 3, tp(1): 2}]


async def test_closing_commits_at_once_and_a_consumer_started_again_does_not_inherit_the_old_ones_bookmarks():
    old, new, commits = Recorder(), Recorder(), OffsetCommits(delay=10)
    await commits.acknowledger(old, record(0, 1)).commit()
    await commits.acknowledger(new, record(0, 0)).commit()
    await commits.close()
    assert old.commits == []
    assert new.commits == [{tp(0): 1}]


async def test_a_commit_that_hangs_does_not_hold_up_a_stop_and_its_bookmarks_go_with_the_next():
    consumer, commits = Recorder(hang=1), OffsetCommits(delay=10, timeout=0.05)
    await commits.acknowledger(consumer, record(0, 1)).commit()
    await commits.flush()  # gave up after the timeout
    await commits.acknowledger(consumer, record(1, 4)).commit()
    await commits.close()
    assert consumer.commits == [{tp(0): 2, tp(1): 5}]
