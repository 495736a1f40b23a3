"""The feeds process SIGKILLed with a webhook delivery in flight: after its restart, nothing is lost, the entry
in flight is sent again once under its webhook-id (which the receiver drops as a duplicate), and the order holds.

The receiver stores entry 3 and never answers it (``--stall-at``), so the kill lands between the receiver's store
and feeds' commit of its acknowledgement by construction, not by timing: the one window where at-least-once
delivery must send again, and the id must let the receiver recognise it.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from harbour.auth import issue_token
from harbour.db import drop_database
from harbour.settings import HarbourSettings
from tests.integration.test_feeds_helpers import ensure_audience_topics, milestones, publish
from tests.support.processes import ServiceProcess, process_env
from tests.support.waiting import wait_until
from tests.support.webhooks import receivers_in

pytestmark = pytest.mark.integration

AUDIENCE = "labour-auditorate-limburg"
STALL_AT = 3


async def test_a_feeds_process_killed_mid_delivery_loses_nothing_and_the_receiver_drops_the_one_sent_again(
    pg_server_url, running_broker, tmp_path: Path
):
    bootstrap = running_broker.bootstrap
    await ensure_audience_topics(bootstrap, [AUDIENCE])
    prefix = f"harbour_test_hook{uuid.uuid4().hex[:6]}_"
    env = process_env(pg_server_url=pg_server_url, bootstrap=bootstrap, prefix=prefix, var_dir=tmp_path,
                      WEBHOOK_ALLOW_HTTP_LOCALHOST="true", WEBHOOK_BACKOFF_INITIAL_SECONDS="0.02",
                      WEBHOOK_BACKOFF_MAX_SECONDS="0.1", CONSUMER_GROUP_SUFFIX=f".{prefix}")  # fmt: skip
    settings = HarbourSettings(var_dir=tmp_path)  # the process's development keys: tokens it accepts
    office = {"Authorization": f"Bearer {issue_token(AUDIENCE, 'magistrate', 'clerk-1', settings=settings)}"}
    feeds = ServiceProcess("feeds", env, tmp_path / "feeds.log")
    batch = milestones(AUDIENCE, 5)
    with receivers_in(tmp_path) as make:
        receiver = make("killed")
        try:
            feeds.start()
            async with httpx.AsyncClient(base_url=feeds.url, headers=office, timeout=10) as client:
                answer = await client.post(f"/feeds/{AUDIENCE}/webhooks", json={"url": receiver.url})
                assert answer.status_code == 201, answer.text
                secret, sid = answer.json()["secret"], answer.json()["subscription_id"]
                receiver.start(secret, stall_at=STALL_AT)
                await publish(bootstrap, batch)

                async def stalled() -> bool:
                    return any(r["cursor"] == STALL_AT for r in receiver.records("new"))

                await wait_until(stalled, timeout=30)
                feeds.kill()  # SIGKILL: the attempt of entry 3 never commits
                receiver.stop()
                receiver.start(secret)
                feeds.start()

                async def feed() -> list[dict]:
                    page = await client.get(f"/feeds/{AUDIENCE}/milestones", params={"limit": 500})
                    return page.json()["items"]

                async def caught_up() -> bool:
                    state = (await client.get(f"/feeds/{AUDIENCE}/webhooks/{sid}")).json()
                    return state["delivered"] == len(batch)

                await wait_until(caught_up, timeout=30)
                items = await feed()
                log = (await client.get(f"/feeds/{AUDIENCE}/webhooks/{sid}/deliveries")).json()["items"]
        finally:
            feeds.kill()
            await drop_database(pg_server_url, f"{prefix}feeds")
    assert (
        [r["milestone_id"] for r in receiver.records("new")]
        == [str(m.milestone_id) for m in batch]
        == [i["milestone"]["milestone_id"] for i in items]
    ), "0 lost, in the feed's order"
    assert [r["cursor"] for r in receiver.records("duplicate")] == [STALL_AT], "only the entry in flight, once"
    assert [d["cursor"] for d in log if d["outcome"] == "delivered"] == [1, 2, 3, 4, 5]
    assert receiver.records("rejected") == []
