"""The legal timers across restarts: what falls due while the service is down fires once when it is back."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, time, timedelta

from harbour.clock import ManualClock
from harbour.db import drop_database
from harbour_tools.infra import BrokerProcess
from services.legal.rules import days_end
from services.legal.timekeeping import BRUSSELS
from tests.support.legal_harness import START, LegalStage, legal_stage


async def fired_counts(stage: LegalStage, case: str) -> tuple[list[int], int]:
    reminders = [e.days_before for e in await stage.events(case, "DocumentExpiryReminderDue")]
    return reminders, len(await stage.events(case, "DocumentExpired"))


async def test_reminders_and_expiries_fire_exactly_once_across_restarts_while_they_are_due(
    pg_server_url: str, running_broker: BrokerProcess
) -> None:
    database = f"harbour_test_legal_restart_{uuid.uuid4().hex[:8]}"
    clock = ManualClock(START)
    run = {"pg_server_url": pg_server_url, "bootstrap": running_broker.bootstrap, "clock": clock,
           "database": database, "keep_database": True}  # fmt: skip
    try:
        async with legal_stage(**run) as first:
            case = await first.open_case()
            await first.issue(case, "annex-15")
            ends = days_end(first.today, 45)
            await first.move_to(ends - timedelta(days=14))  # the first service fires the 14-day reminder
            assert await fired_counts(first, case) == ([14], 0)
        # Down while the 3-day reminder and the expiry fall due.
        clock.set(datetime.combine(ends + timedelta(days=1), time(12, 0), tzinfo=BRUSSELS))
        async with legal_stage(**run) as second:
            # Two passes at once (and the background runner): row locks let only one of them fire each timer,
            # and the reminder fired before the restart is not fired again.
            await asyncio.gather(second.svc.runtime.timers.run_due_once(), second.svc.runtime.timers.run_due_once())
            await second.settled()
            await second.move_by(1)
            assert await fired_counts(second, case) == ([14, 3], 1)
            assert await second.pending_timers(case) == []
            status = await second.residence(case)
            assert status["reminders_sent"] == 2 and status["current"]["expired"] is True
    finally:
        await drop_database(pg_server_url, database)
