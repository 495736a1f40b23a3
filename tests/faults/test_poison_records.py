"""Poison records: whatever a record on a subscribed topic holds, it never blocks a partition.

Every record a consumer cannot use goes to ``<topic>.dlq`` with its reason, once per consumer that failed
it, and the partition moves on: the good record published after it is applied, exactly once. Records are
put on the topics with a raw aiokafka producer, so that nothing of Harbour's own publishing smooths them.
"""

from __future__ import annotations

import uuid

import pytest

from services.legal.app import DEFINITION as LEGAL
from tests.support.harness import running_service
from tests.support.poison import (
    Record,
    case_opened,
    good_event,
    inbox_counts,
    letters_by_origin,
    read_all,
    send_all,
    wait_for,
)

pytestmark = pytest.mark.integration

INTAKE_TOPIC = "intake.events.v1"


async def test_a_record_labelled_json_that_is_not_json_goes_to_the_dead_letter_topic_and_the_partition_moves_on(
    pg_server_url, running_broker
):
    bootstrap = running_broker.bootstrap
    case = f"case-{uuid.uuid4().hex[:8]}"
    # The same key as the good record after it: one partition, so a consumer stuck on the poison never gets there.
    poison = Record(INTAKE_TOPIC, b"\xff{this is not json", case.encode(),
                    [("content-type", b"application/json"), ("event_type", b"CaseOpened")], good=False)  # fmt: skip
    good = good_event(INTAKE_TOPIC, case_opened(case), case)
    async with running_service(LEGAL, pg_server_url=pg_server_url, bootstrap=bootstrap) as legal:
        consumers = {c.subscription.consumer for c in legal.runtime.consumers if c.subscription.topic == INTAKE_TOPIC}
        sent_poison, _ = await send_all(bootstrap, [poison, good])

        async def applied() -> bool:
            return len(await inbox_counts(legal.runtime.pool, [good.message_id])) == len(consumers)

        passed = await wait_for(applied, timeout=30)
        counts = await inbox_counts(legal.runtime.pool, [good.message_id])
        assert passed, f"{len(consumers) - len(counts)} of {len(consumers)} consumer groups stalled at the poison"
        assert set(counts.values()) == {1}
        letters = letters_by_origin(await read_all(bootstrap, [f"{INTAKE_TOPIC}.dlq"]))
        mine = {k: n for k, n in letters.items() if k[1:3] == (sent_poison.partition, sent_poison.offset)}
        assert mine == {(INTAKE_TOPIC, sent_poison.partition, sent_poison.offset, c): 1 for c in consumers}
