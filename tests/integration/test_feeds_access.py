"""Only the audience itself reads its feed; bad paging parameters are 422s naming the field."""

from __future__ import annotations

import pytest

from services.feeds.app import DEFINITION
from tests.support.harness import running_service


@pytest.fixture
async def feeds(pg_server_url, running_broker):
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               background=False) as service:  # fmt: skip
        yield service


DENIED = [
    ("police-federal", None, 401),
    ("police-federal", ("centre-payoke", "caseworker"), 403),
    ("prosecution-antwerp", ("prosecution-ghent", "magistrate"), 403),
    ("prosecution-antwerp", ("labour-auditorate-antwerp", "magistrate"), 403),
    ("centre-payoke", ("centre-surya", "manager"), 403),
    ("immigration-office", ("ops", "operator"), 403),
    ("atlantis-police", ("centre-payoke", "caseworker"), 404),
    ("ops", ("ops", "operator"), 404),  # an organisation, but not an audience
]


@pytest.mark.parametrize("endpoint", ["milestones", "stream"])
@pytest.mark.parametrize(("audience", "caller", "status"), DENIED)
async def test_a_feed_refuses_everyone_but_its_own_audience(feeds, endpoint, audience, caller, status):
    headers = feeds.token(*caller) if caller else {}
    response = await feeds.client.get(f"/feeds/{audience}/{endpoint}", headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("audience", "caller"),
    [("centre-payoke", ("centre-payoke", "caseworker")), ("prosecution-antwerp", ("prosecution-antwerp", "clerk")),
     ("police-federal", ("police-federal", "officer")), ("guardianship-service", ("guardianship-service", "manager")),
     # It had a feed but no token could be issued for it (issue 13).
     ("federal-prosecution", ("federal-prosecution", "magistrate"))],
)  # fmt: skip
async def test_an_audience_reads_its_own_feed(feeds, audience, caller):
    # The stream's 200 is read over a real socket in test_feeds_stream (in-process, an open stream never ends).
    response = await feeds.client.get(f"/feeds/{audience}/milestones", headers=feeds.token(*caller))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("params", "headers", "field"),
    [
        ({"limit": 0}, {}, "limit"),
        ({"limit": 501}, {}, "limit"),
        ({"limit": "many"}, {}, "limit"),
        ({"after": -1}, {}, "after"),
        ({"after": 2**63}, {}, "after"),
    ],
)
async def test_a_page_outside_the_limits_is_a_422_naming_the_parameter(feeds, params, headers, field):
    response = await feeds.client.get("/feeds/centre-payoke/milestones", params=params,
                                      headers={**feeds.token("centre-payoke", "caseworker"), **headers})  # fmt: skip
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


@pytest.mark.parametrize("last_event_id", ["abc", "-3", "1.5", str(2**63)])
async def test_a_stream_resumed_from_something_that_is_no_cursor_is_a_422(feeds, last_event_id):
    response = await feeds.client.get("/feeds/centre-payoke/stream", headers={
        **feeds.token("centre-payoke", "caseworker"), "Last-Event-ID": last_event_id})  # fmt: skip
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "Last-Event-ID"


async def test_a_page_of_500_is_accepted_and_an_empty_feed_is_an_empty_page(feeds):
    response = await feeds.client.get("/feeds/centre-payoke/milestones", params={"limit": 500},
                                      headers=feeds.token("centre-payoke", "caseworker"))  # fmt: skip
    assert response.status_code == 200
    assert response.json() == {"audience": "centre-payoke", "items": [], "next": 0, "more": False}
