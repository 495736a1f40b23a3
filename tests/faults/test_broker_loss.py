"""The broker killed (SIGKILL) under load while every consumer lags, and restarted empty on the same port.

Tansu keeps everything in memory: what it had acknowledged and nobody had read yet is gone, and so are the
consumer groups and their offsets. The stores still hold every event, so the relays must notice on their own
and publish again from a position no consumer can have missed anything behind; the inboxes dedupe.
The counts are taken from each service's own database: every case intake opened reached legal, tracks and
housing exactly once, every milestone the stores imply reached the feeds exactly once, and no caller saw a 500.
"""

from __future__ import annotations

import asyncio

import pytest

from harbour import telemetry
from tests.support.platform_load import (
    Load,
    bounded,
    consumers_stalled,
    platform,
    relays_caught_up,
    run_chains,
    settle,
)

pytestmark = pytest.mark.integration

BEFORE, DURING, AFTER = 8, 16, 8  # chains: consumers keeping up, consumers stalled, broker back empty


def _rebuilds() -> float:
    return sum(s.value for m in telemetry.RELAY_REBUILDS.collect() for s in m.samples if s.name.endswith("_total"))


async def test_a_broker_killed_and_restarted_empty_under_load_loses_nothing_and_applies_nothing_twice(
    pg_server_url, broker
):
    if not broker.is_running:
        broker.start()
    load = Load()
    rebuilds = _rebuilds()
    async with platform(pg_server_url, broker.bootstrap) as services:
        intake = services["intake"]
        await run_chains(intake, load, BEFORE)
        async with consumers_stalled(services):
            await run_chains(intake, load, DURING)
            # The relays moved their checkpoints past every event of the load: the broker acknowledged them all,
            # and (consumers stalled) nobody has read most of them.
            assert await bounded(lambda: relays_caught_up(intake), 30), "intake's relays never caught up"
            await asyncio.to_thread(broker.restart, kill=True)
        await run_chains(intake, load, AFTER)
        final = await settle(services, timeout=60)

    assert len(load.admitted) == BEFORE + DURING + AFTER, load.failed
    assert not [s for s in load.statuses if s >= 500], load.statuses
    assert final.opened == len(load.admitted)
    assert final.lost == {"legal": 0, "tracks": 0, "housing": 0}, final
    assert final.duplicated == {"legal": 0, "tracks": 0, "housing": 0}, final
    assert final.milestones_expected > 0, final
    assert (final.milestones_lost, final.milestones_unexpected, final.milestones_duplicated) == (0, 0, 0), final
    # Healed by the relays themselves, and they said so.
    assert _rebuilds() > rebuilds
