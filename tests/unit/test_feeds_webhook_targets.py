"""Which endpoints an office may register, how long a failed entry waits, what a delivery carries (feeds webhooks)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from harbour.errors import RuleViolation
from services.feeds.webhooks.delivery import backoff, signed_headers, webhook_id
from services.feeds.webhooks.settings import WebhookSettings
from services.feeds.webhooks.targets import RefusedAddress, check_resolved, check_url

PRODUCTION = WebhookSettings()
TESTS = WebhookSettings(allow_http_localhost=True)
PRIVATE = WebhookSettings(allow_private_addresses=True)


@pytest.mark.parametrize(
    "url",
    ["https://hooks.example.org/harbour", "https://hooks.example.org:8443/in?office=1", "https://93.184.215.14/hook",
     "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/hook"],
)  # fmt: skip
def test_a_public_https_endpoint_is_accepted_in_production(url):
    assert check_url(url, PRODUCTION) == url


@pytest.mark.parametrize(
    "url",
    ["http://hooks.example.org/", "http://127.0.0.1:9000/", "https://127.0.0.1/", "https://localhost/",
     "https://10.0.0.8/", "https://172.16.3.4/", "https://192.168.1.1/", "https://169.254.169.254/", "https://[fd00::1]/",
     "https://[::ffff:10.0.0.1]/", "https://0.0.0.0/", "https://224.0.0.1/", "https://db.internal/", "https://printer.local/",
     "https://intranet/", "https://a:b@hooks.example.org/", "https://hooks.example.org/#x", "javascript:alert(1)",
     "https://hooks.example.org/\nX-Injected: 1", "https://hooks.example.org/har\x00bour"],
)  # fmt: skip
def test_anything_else_is_refused_in_production_naming_the_url(url):
    with pytest.raises(RuleViolation) as refused:
        check_url(url, PRODUCTION)
    assert refused.value.field == "url"


def test_http_to_localhost_is_allowed_only_behind_the_test_setting_and_never_to_another_host():
    assert check_url("http://127.0.0.1:9000/hooks", TESTS) == "http://127.0.0.1:9000/hooks"
    assert check_url("http://localhost:9000/hooks", TESTS) == "http://localhost:9000/hooks"
    for url in ("http://hooks.example.org/", "http://10.0.0.8/"):
        with pytest.raises(RuleViolation):
            check_url(url, TESTS)


def test_private_addresses_are_allowed_only_behind_their_setting_and_still_over_https():
    assert check_url("https://10.0.0.8/hooks", PRIVATE) == "https://10.0.0.8/hooks"
    assert check_url("https://hooks.office.internal/", PRIVATE) == "https://hooks.office.internal/"
    with pytest.raises(RuleViolation):
        check_url("http://10.0.0.8/hooks", PRIVATE)


async def test_a_name_that_resolves_to_an_internal_address_is_refused_before_an_attempt():
    with pytest.raises(RefusedAddress):
        await check_resolved("https://localhost/hooks", PRODUCTION)
    await check_resolved("https://localhost/hooks", PRIVATE)
    await check_resolved("http://127.0.0.1:9000/hooks", TESTS)


def test_the_backoff_doubles_from_its_initial_wait_up_to_its_maximum():
    settings = WebhookSettings(backoff_initial_seconds=2, backoff_factor=2, backoff_max_seconds=30)
    assert [backoff(n, settings) for n in range(1, 7)] == [timedelta(seconds=s) for s in (2, 4, 8, 16, 30, 30)]


def test_a_delivery_is_signed_so_that_the_library_verifies_it_and_its_id_is_the_entrys():
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    milestone_id = uuid4()
    body = json.dumps({"type": "milestone.hearing-scheduled", "data": {"cursor": 3}})
    headers = signed_headers(secret, webhook_id(milestone_id), datetime.now(UTC), body)
    assert headers["webhook-id"] == webhook_id(milestone_id) == f"msg_{milestone_id.hex}"
    assert Webhook(secret).verify(body, headers) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("3", "4"), headers)
    old = signed_headers(secret, "msg_old", datetime.now(UTC) - timedelta(hours=1), body)
    with pytest.raises(WebhookVerificationError):  # a replay of an old delivery is refused by its timestamp
        Webhook(secret).verify(body, old)
