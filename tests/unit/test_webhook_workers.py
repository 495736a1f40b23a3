"""The webhook workers' bell (services/feeds/webhooks/delivery.py): one ring wakes one worker, and none is lost.

The passes here are counted, not run: ``deliver_once`` is replaced by one that finds nothing due (or delivers as
often as told). The real passes against PostgreSQL are tests/integration/test_feeds_webhooks.py's.
"""

from __future__ import annotations

import asyncio

from services.feeds.webhooks.delivery import Deliverer
from services.feeds.webhooks.settings import WebhookSettings


class Counted(Deliverer):
    def __init__(self, workers: int, deliveries: int = 0) -> None:
        super().__init__(rt=None, settings=WebhookSettings(workers=workers, poll_seconds=30))  # type: ignore[arg-type]
        self.passes = 0
        self.deliveries = deliveries

    async def deliver_once(self) -> float | None:
        self.passes += 1
        await asyncio.sleep(0)  # a pass awaits the database: a ring may come meanwhile
        if self.deliveries:
            self.deliveries -= 1
            return None
        return self.settings.poll_seconds


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_notification_wakes_one_of_four_idle_workers_not_all():
    workers = Counted(workers=4)
    await workers.start()
    await settle()
    assert workers.passes == 4  # each worker's first pass at start
    for rings in range(1, 6):
        workers.wake()
        await settle()
        assert workers.passes == 4 + rings
    await workers.close()


async def test_a_ring_during_a_pass_is_answered_after_it():
    workers = Counted(workers=1)
    await workers.start()
    workers.wake()  # rung while the first pass runs
    await settle()
    assert workers.passes == 2
    await workers.close()


async def test_a_worker_that_delivered_calls_another_in_while_there_is_work():
    workers = Counted(workers=2)
    await workers.start()
    await settle()
    workers.deliveries = 3
    workers.wake()
    await settle()
    # The ring's pass and the two that delivered after it, one empty pass that ends the run, and the one of
    # the worker each delivery rang: never more than one empty pass per ring.
    assert workers.deliveries == 0
    assert 2 + 3 + 1 <= workers.passes <= 2 + 3 + 1 + 3
    await workers.close()
