"""Signed webhooks: an office's endpoint (a real receiver process verifying every signature with the Standard
Webhooks library) gets its feed once each, in order, across its own outage and a feeds restart; a failing one is
paused and resumed from a cursor; bad input is a problem naming the field (services/feeds/webhooks/)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from harbour import telemetry
from harbour.db import drop_database
from services.feeds.app import DEFINITION
from services.feeds.webhooks.delivery import signed_headers
from tests.integration.test_feeds_access import DENIED
from tests.integration.test_feeds_helpers import (
    FEEDS_SETTINGS,
    all_pages,
    ensure_audience_topics,
    ids,
    milestones,
    publish,
    reader,
    wait_stored,
)
from tests.support.harness import RunningService, running_service
from tests.support.waiting import wait_until
from tests.support.webhooks import receivers_in

pytestmark = pytest.mark.integration

# Audiences no other suite publishes to: the session broker keeps every topic, and a feed holds what its topic has.
OUTAGE = "labour-auditorate-bruges"
PAUSING = "labour-auditorate-charleroi"

SPANS = InMemorySpanExporter()
telemetry.EXTRA_SPAN_PROCESSORS.append(SimpleSpanProcessor(SPANS))
for _provider in telemetry._providers.values():  # providers made before this module was imported
    _provider.add_span_processor(SimpleSpanProcessor(SPANS))


def quick_deliveries(monkeypatch: pytest.MonkeyPatch, *, max_failures: int) -> None:
    """A small backoff (the counts asserted do not depend on it), http to the local receiver. The idle poll stays
    at its default (30 s): the workers must be woken by the commits themselves (a milestone, a registration, a
    resume) and by the next retry's time, or these tests wait in vain."""
    values = {"MAX_FAILURES": max_failures, "BACKOFF_INITIAL_SECONDS": 0.02, "BACKOFF_MAX_SECONDS": 0.1,
              "TIMEOUT_SECONDS": 5, "ALLOW_HTTP_LOCALHOST": "true",
              # Four workers after one subscription: only one may hold it at a time (each entry is delivered once).
              "WORKERS": 4}  # fmt: skip
    for name, value in values.items():
        monkeypatch.setenv(f"HARBOUR_WEBHOOK_{name}", str(value))


@pytest.fixture
def receivers(tmp_path):
    with receivers_in(tmp_path) as make:
        yield make


async def register(feeds: RunningService, audience: str, url: str, **body: Any) -> httpx.Response:
    return await feeds.client.post(f"/feeds/{audience}/webhooks", json={"url": url, **body},
                                   headers=reader(feeds, audience))  # fmt: skip


async def delivery_log(feeds: RunningService, audience: str, subscription_id: str, *, limit: int = 500) -> list[Any]:
    """Every attempt of the subscription, page by page, following ``next``."""
    items: list[Any] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        response = await feeds.client.get(f"/feeds/{audience}/webhooks/{subscription_id}/deliveries", params=params,
                                          headers=reader(feeds, audience))  # fmt: skip
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if page["next"] is None:
            return items
        params["after"] = page["next"]


async def subscription(feeds: RunningService, audience: str, subscription_id: str) -> dict[str, Any]:
    response = await feeds.client.get(f"/feeds/{audience}/webhooks/{subscription_id}", headers=reader(feeds, audience))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def span_text() -> str:
    parts = []
    for span in SPANS.get_finished_spans():
        parts += [span.name, repr(dict(span.attributes or {})), repr(span.status.description)]
        parts += [e.name + repr(dict(e.attributes or {})) for e in span.events]
    return " ".join(parts)


async def test_a_receiver_down_for_a_while_and_a_feeds_restart_lose_nothing_duplicate_nothing_and_keep_the_order(
    pg_server_url, running_broker, receivers, monkeypatch, caplog
):
    quick_deliveries(monkeypatch, max_failures=1000)  # never paused here: the outage is ridden out by retries
    caplog.set_level("DEBUG")
    SPANS.clear()
    bootstrap = running_broker.bootstrap
    await ensure_audience_topics(bootstrap, [OUTAGE])
    database = f"harbour_test_feeds_{uuid.uuid4().hex[:8]}"
    receiver = receivers("outage")
    first = milestones(OUTAGE, 4)
    second = milestones(OUTAGE, 5, case_ref=first[0].case_ref, start=4)
    try:
        async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=bootstrap, database=database,
                                   keep_database=True, settings=FEEDS_SETTINGS) as feeds:  # fmt: skip
            answer = await register(feeds, OUTAGE, receiver.url)
            assert answer.status_code == 201, answer.text
            registered = answer.json()
            secret, subscription_id = registered["secret"], registered["subscription_id"]
            assert secret.startswith("whsec_")
            assert answer.headers["location"] == f"/feeds/{OUTAGE}/webhooks/{subscription_id}"
            receiver.start(secret)
            await publish(bootstrap, first)
            await wait_stored(feeds, OUTAGE, first)
            head = len(await all_pages(feeds, OUTAGE))

            async def caught_up() -> bool:  # acknowledged and committed, not only stored by the receiver
                return (await subscription(feeds, OUTAGE, subscription_id))["delivered"] == head

            await wait_until(caught_up)
            receiver.stop()  # the office's endpoint goes down
            await publish(bootstrap, second)
            await wait_stored(feeds, OUTAGE, second)

            async def failing() -> bool:
                log = await delivery_log(feeds, OUTAGE, subscription_id)
                return sum(d["outcome"] == "failed" for d in log) >= 3

            await wait_until(failing)
        # Feeds stops and starts again while the endpoint is still down: the retries go on from the database.
        async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=bootstrap, database=database,
                                   settings=FEEDS_SETTINGS) as feeds:  # fmt: skip
            feed = await all_pages(feeds, OUTAGE)
            receiver.start(secret)  # back up, same address

            async def all_delivered() -> bool:
                return (await subscription(feeds, OUTAGE, subscription_id))["delivered"] == feed[-1]["cursor"]

            await wait_until(all_delivered)
            log = await delivery_log(feeds, OUTAGE, subscription_id, limit=4)  # several pages of the log
            state = await subscription(feeds, OUTAGE, subscription_id)
    finally:
        await drop_database(pg_server_url, database)

    new = receiver.records("new")
    assert [r["milestone_id"] for r in new] == ids(feed), "0 lost, none twice after dedup, in the feed's order"
    assert [r["cursor"] for r in new] == [i["cursor"] for i in feed]
    assert all(r["type"] == "milestone.hearing-scheduled" for r in new)
    taken = [r["cursor"] for r in receiver.records() if r["kind"] in {"new", "duplicate"}]
    assert taken == sorted(taken), "a delivery never overtakes an earlier entry, even a re-sent one"
    assert receiver.records("rejected") == [], "every delivery verified with the library"
    delivered = [d for d in log if d["outcome"] == "delivered"]
    assert [d["cursor"] for d in delivered] == [i["cursor"] for i in feed], "each entry acknowledged once"
    failed = [d for d in log if d["outcome"] == "failed"]
    assert len(failed) >= 3 and {d["error"] for d in failed} == {"connection"}
    assert {d["cursor"] for d in failed} == {head + 1}, "only the entry after the last acknowledged is retried"
    assert len({d["webhook_id"] for d in log if d["cursor"] == head + 1}) == 1, "one webhook-id per feed entry"
    assert [d["attempt"] for d in log] == sorted(d["attempt"] for d in log)
    assert (state["status"], state["failures"], state["delivered"]) == ("active", 0, feed[-1]["cursor"])
    # The secret was shown in the registration's answer only: no log line and no span holds it.
    assert secret not in caplog.text
    assert secret.removeprefix("whsec_") not in span_text()


async def test_a_failing_endpoint_is_paused_after_repeated_failures_and_resumed_from_a_cursor_it_gets_the_rest(
    pg_server_url, running_broker, receivers, monkeypatch
):
    quick_deliveries(monkeypatch, max_failures=3)
    bootstrap = running_broker.bootstrap
    await ensure_audience_topics(bootstrap, [PAUSING])
    receiver = receivers("pausing")
    batch = milestones(PAUSING, 4)
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=bootstrap,
                               settings=FEEDS_SETTINGS) as feeds:  # fmt: skip
        key = {"Idempotency-Key": f"register-{uuid.uuid4()}"}
        headers = reader(feeds, PAUSING) | key
        answer = await feeds.client.post(f"/feeds/{PAUSING}/webhooks", json={"url": receiver.url}, headers=headers)
        again = await feeds.client.post(f"/feeds/{PAUSING}/webhooks", json={"url": receiver.url}, headers=headers)
        assert answer.status_code == again.status_code == 201, answer.text
        assert again.json() == answer.json() and again.headers["Idempotent-Replayed"] == "true"
        listed = (await feeds.client.get(f"/feeds/{PAUSING}/webhooks", headers=reader(feeds, PAUSING))).json()
        assert [s["subscription_id"] for s in listed["items"]] == [answer.json()["subscription_id"]], "one, not two"
        assert "secret" not in listed["items"][0]
        secret, subscription_id = answer.json()["secret"], answer.json()["subscription_id"]
        async with feeds.runtime.pool.acquire() as conn:  # the answer kept for the key, and the subscription's row
            recorded = await conn.fetch("SELECT body FROM idempotent_commands")
            stored = await conn.fetchval("SELECT secret::text FROM webhook_subscriptions")
        assert len(recorded) == 1 and subscription_id in recorded[0]["body"]
        assert secret.removeprefix("whsec_") not in recorded[0]["body"] + stored, (
            "the secret is stored nowhere in clear"
        )
        receiver.start(secret, answer=503)  # up, but failing: before the feed has anything to send
        await publish(bootstrap, batch)
        await wait_stored(feeds, PAUSING, batch)
        feed = await all_pages(feeds, PAUSING)
        head = feed[-1]["cursor"]

        async def paused() -> bool:
            return (await subscription(feeds, PAUSING, subscription_id))["status"] == "paused"

        await wait_until(paused)
        log = await delivery_log(feeds, PAUSING, subscription_id)
        assert [(d["outcome"], d["status_code"], d["cursor"], d["paused"]) for d in log] == [
            ("failed", 503, 1, False), ("failed", 503, 1, False), ("failed", 503, 1, True)]  # fmt: skip
        assert len(receiver.records("refused")) == 3 and len({r["webhook_id"] for r in receiver.records()}) == 1

        receiver.stop()
        receiver.start(secret)  # fixed
        resume = f"/feeds/{PAUSING}/webhooks/{subscription_id}/resume"
        forged = await feeds.client.post(resume, json={"after": head + 1}, headers=reader(feeds, PAUSING))
        assert forged.status_code == 422 and forged.json()["field"] == "after", forged.text
        # The office read entry 1 from a page meanwhile: it resumes after it, and gets the rest.
        resumed = await feeds.client.post(resume, json={"after": 1}, headers=reader(feeds, PAUSING))
        assert resumed.status_code == 200, resumed.text
        assert (resumed.json()["status"], resumed.json()["delivered"]) == ("active", 1)

        async def delivered_up_to_head() -> bool:
            return (await subscription(feeds, PAUSING, subscription_id))["delivered"] == head

        await wait_until(delivered_up_to_head)
        assert [r["cursor"] for r in receiver.records("new")] == list(range(2, head + 1))
        # Resumed from the beginning, it sends everything again under the same ids: the receiver takes only entry 1.
        again = await feeds.client.post(resume, json={"after": 0}, headers=reader(feeds, PAUSING))
        assert again.status_code == 200, again.text
        await wait_until(delivered_up_to_head)
        log = await delivery_log(feeds, PAUSING, subscription_id)

        async def all_sent_twice() -> bool:
            return len(receiver.records("new")) + len(receiver.records("duplicate")) == 2 * head - 1

        await wait_until(all_sent_twice)
    new = receiver.records("new")
    assert [r["milestone_id"] for r in sorted(new, key=lambda r: r["cursor"])] == ids(feed)
    assert [r["cursor"] for r in receiver.records("duplicate")] == list(range(2, head + 1))
    assert receiver.records("rejected") == []


async def test_the_receiver_rejects_a_forged_or_tampered_signature_and_takes_a_true_one(receivers):
    receiver = receivers("forgery")
    secret = "whsec_" + "c2VjcmV0LW9mLXRoZS1vZmZpY2UtMzItYnl0ZXMhISE="
    other = "whsec_" + "YW5vdGhlci1zZWNyZXQtb2YtMzItYnl0ZXMtbG9uZyE="
    receiver.start(secret)
    body = json.dumps({"type": "milestone.hearing-scheduled",
                       "data": {"cursor": 1, "milestone": {"milestone_id": str(uuid.uuid4())}}})  # fmt: skip
    now = datetime.now(UTC)
    true = signed_headers(secret, "msg_true", now, body)
    forged = signed_headers(other, "msg_forged", now, body)
    tampered = signed_headers(secret, "msg_tampered", now, body)
    async with httpx.AsyncClient() as client:
        answers = [
            (await client.post(receiver.url, content=body, headers=forged)).status_code,
            (
                await client.post(receiver.url, content=body.replace('"cursor": 1', '"cursor": 2'), headers=tampered)
            ).status_code,
            (await client.post(receiver.url, content=body, headers={**true, "webhook-id": "msg_other"})).status_code,
            (await client.post(receiver.url, content=body, headers={"content-type": "application/json"})).status_code,
            (await client.post(receiver.url, content=body, headers=true)).status_code,
        ]
    assert answers == [400, 400, 400, 400, 200]
    assert [r["webhook_id"] for r in receiver.records("rejected")] == ["msg_forged", "msg_tampered", "msg_other", ""]
    assert [r["webhook_id"] for r in receiver.records("new")] == ["msg_true"]


@pytest.fixture(scope="module")
async def feeds(pg_server_url, broker):
    # One service for the module's checks of input and access (each test on audiences of its own): a start and a
    # stop per parameter would be most of their time.
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=broker.bootstrap,
                               background=False) as service:  # fmt: skip
        yield service


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.org/harbour",  # not https (production)
        "ftp://hooks.example.org/harbour",
        "http://127.0.0.1:9000/hooks",  # http to localhost only behind the test setting
        "https://user:password@hooks.example.org/harbour",
        "https://hooks.example.org/harbour#part",
        "https://10.1.2.3/hooks",
        "https://169.254.169.254/latest/meta-data",  # the cloud metadata service
        "https://[::1]/hooks",
        "https://[::ffff:192.168.0.1]/hooks",
        "https://localhost/hooks",
        "https://db.internal/hooks",
        "https://intranet/hooks",
        "https://hooks.example.org/har\x00bour",
        "https://hooks.example.org:0/",
        "not a url",
        "https://",
    ],
)
async def test_a_registration_with_a_url_that_is_not_a_public_https_one_is_a_422_naming_url(feeds, url):
    response = await register(feeds, "prosecution-luxembourg", url)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == "url"
    office = reader(feeds, "prosecution-luxembourg")
    listed = await feeds.client.get("/feeds/prosecution-luxembourg/webhooks", headers=office)
    assert listed.json() == {"items": [], "next": None}, "a refused registration changes nothing"


async def test_a_registration_with_a_cursor_past_the_feed_or_a_forged_page_cursor_is_a_422_naming_after(feeds):
    response = await register(feeds, "prosecution-namur", "https://hooks.example.org/harbour", after=1)
    assert response.status_code == 422 and response.json()["field"] == "after", response.text
    ok = await register(feeds, "prosecution-namur", "https://hooks.example.org/harbour")
    assert ok.status_code == 201, ok.text
    sid = ok.json()["subscription_id"]
    for path in ("/feeds/prosecution-namur/webhooks", f"/feeds/prosecution-namur/webhooks/{sid}/deliveries"):
        for forged in ("WzFd", "bm90LWpzb24", "WyJ4Il0", "WzAsMV0"):  # [1] / not json / ["x"] / [0,1]
            if path.endswith("deliveries") and forged == "WzFd":
                continue  # [1] is an attempt number this service could give
            answer = await feeds.client.get(path, params={"after": forged}, headers=reader(feeds, "prosecution-namur"))
            assert answer.status_code == 422 and answer.json()["field"] == "after", (path, forged, answer.text)


@pytest.mark.parametrize(("audience", "caller", "status"), DENIED)
async def test_an_audiences_webhooks_refuse_everyone_but_the_audience_itself(feeds, audience, caller, status):
    headers = feeds.token(*caller) if caller else {}
    sid = uuid.uuid4()
    calls = [
        feeds.client.post(f"/feeds/{audience}/webhooks", json={"url": "https://hooks.example.org/"}, headers=headers),
        feeds.client.get(f"/feeds/{audience}/webhooks", headers=headers),
        feeds.client.get(f"/feeds/{audience}/webhooks/{sid}", headers=headers),
        feeds.client.get(f"/feeds/{audience}/webhooks/{sid}/deliveries", headers=headers),
        feeds.client.post(f"/feeds/{audience}/webhooks/{sid}/resume", json={}, headers=headers),
    ]
    for call in calls:
        response = await call
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        if status in {403, 404}:
            assert response.json()["field"] == "audience"


async def test_another_audiences_subscription_is_not_found_for_an_office(feeds):
    made = await register(feeds, "prosecution-namur", "https://hooks.example.org/harbour")
    sid = made.json()["subscription_id"]
    other = reader(feeds, "prosecution-mons")
    for path in (f"/feeds/prosecution-mons/webhooks/{sid}", f"/feeds/prosecution-mons/webhooks/{sid}/deliveries"):
        response = await feeds.client.get(path, headers=other)
        assert response.status_code == 404 and response.json()["field"] == "subscription_id", response.text
    resumed = await feeds.client.post(f"/feeds/prosecution-mons/webhooks/{sid}/resume", json={}, headers=other)
    assert resumed.status_code == 404, resumed.text
    own = await feeds.client.get(f"/feeds/prosecution-namur/webhooks/{sid}", headers=reader(feeds, "prosecution-namur"))
    assert own.status_code == 200 and "secret" not in own.json()
