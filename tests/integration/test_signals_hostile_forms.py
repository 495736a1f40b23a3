"""The tip form (``POST /tip``, outside the OpenAPI document, so the fuzz does not reach it) under a careless
client and an attacker: every answer is a page (303, 413, 422 or 429), never a 500, and a refused form records
nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.signals.app import DEFINITION
from services.signals.privacy import LIMIT
from tests.support.harness import RunningService, running_service

FORM = "application/x-www-form-urlencoded"
GOOD = "description=a+man+sleeps+in+the+car+wash&postcode=1050"

HOSTILE = {
    "NUL in the municipality": GOOD + "&municipality=Ixelles%00",
    "NUL in the description": "description=seen%00here&postcode=1050",
    "NUL in the callback": GOOD + "&callback=%000470",
    "NUL in the postcode": "description=x&postcode=10%0050",
    "NUL in the key": GOOD + "&key=%00%00",
    "NUL in the language": GOOD + "&lang=%00",
    "a lone surrogate escape": GOOD + "&municipality=%ED%A0%80",
    "bytes that are not UTF-8": GOOD + "&municipality=%FF%FE",
    "an unknown exploitation kind": GOOD + "&exploitation_types=slavery-of-robots",
    "an unknown signal": GOOD + "&signal_ids=not-a-signal",
    "a thousand signals": GOOD + "".join(f"&signal_ids=s{n}" for n in range(1000)),
    "a date that is no date": GOOD + "&seen_on=2026-13-45",
    "a date of year zero": GOOD + "&seen_on=0000-01-01",
    "a date far in the future": GOOD + "&seen_on=9999-12-31",
    "a field named twice": GOOD + "&postcode=4000",
    "a huge key": GOOD + "&key=" + "k" * 5000,
    "no fields at all": "",
    "only separators": "&&&===&&",
    "percent signs that escape nothing": "description=%%%&postcode=%ZZ",
}


@pytest.fixture(scope="module")
async def signals(pg_server_url: str, broker) -> AsyncIterator[RunningService]:
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=broker.bootstrap) as service:
        yield service


async def _tips(service: RunningService) -> int:
    async with service.runtime.pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM events WHERE event_type = 'TipSubmitted'"))


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
async def test_a_hostile_form_is_answered_with_a_page_never_a_server_error(signals, body):
    LIMIT.reset()
    before = await _tips(signals)
    answer = await signals.client.post("/tip", content=body.encode("latin-1"), headers={"content-type": FORM})
    assert answer.status_code in {303, 413, 422, 429}, (answer.status_code, answer.text[:300])
    if answer.status_code != 303:
        assert await _tips(signals) == before  # a refused form records nothing
    assert "set-cookie" not in answer.headers


async def test_a_form_sent_with_another_content_type_is_refused_or_read_never_a_server_error(signals):
    LIMIT.reset()
    for content_type in ("application/json", "multipart/form-data; boundary=x", "text/plain", ""):
        answer = await signals.client.post("/tip", content=GOOD.encode(), headers={"content-type": content_type})
        assert answer.status_code < 500, (content_type, answer.status_code)
