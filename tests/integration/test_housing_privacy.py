"""Secret shelter addresses and independent-housing addresses stay where they belong.

One full housing scenario (every command, every query, intake's events, an erasure) runs against the real
database and broker; then every stored event, every message on housing's topic, every log record and
every span it produced is searched for the addresses. They are found in none.
"""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from harbour import telemetry
from harbour.audit import reads_of
from harbour.pii import ERASED
from services.housing.app import DEFINITION
from tests.support.harness import running_service
from tests.support.housing_env import PURPOSE, erase_person, exit_case, open_case, register_shelter, request_bed
from tests.support.kafka import read_topic
from tests.support.upstream import upstream
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
SPANS = InMemorySpanExporter()
telemetry.EXTRA_SPAN_PROCESSORS.append(SimpleSpanProcessor(SPANS))
for _provider in telemetry._providers.values():  # providers made before this module was imported
    _provider.add_span_processor(SimpleSpanProcessor(SPANS))

SECRET = uuid.uuid4().hex[:12]  # a token that can only come from our addresses
PAYOKE_ADDRESS = f"Geheimstraat {SECRET} 7, 2000 Antwerpen"
PAG_ASA_ADDRESS = f"Rue Cachée {SECRET} 3, 1000 Bruxelles"
HOME_ADDRESS = f"Onafhankelijkheidslaan {SECRET} 12, 2018 Antwerpen"


def leaks(text: str) -> bool:
    return SECRET in text or "Geheimstraat" in text or "Rue Cachée" in text or "Onafhankelijkheidslaan" in text


async def test_a_full_housing_scenario_leaves_no_address_in_events_topics_logs_or_spans(
    pg_server_url, running_broker, caplog
):
    caplog.set_level(logging.DEBUG)
    SPANS.clear()
    bootstrap = running_broker.bootstrap
    async with (
        running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=bootstrap) as housing,
        upstream("intake", pg_server_url=pg_server_url, bootstrap=bootstrap) as intake,
    ):
        payoke, pag_asa = "centre-payoke", "centre-pag-asa"
        shelter = await register_shelter(housing, payoke, {"b1": [], "b2": []}, address=PAYOKE_ADDRESS)
        host = await register_shelter(housing, pag_asa, {"h1": []}, address=PAG_ASA_ADDRESS)
        # Only the owning centre's housing staff read the address; each read is audited.
        response = await housing.client.get(f"/housing/shelters/{shelter}/address",
                                            headers={**housing.token(payoke, "housing"), **PURPOSE})  # fmt: skip
        assert response.status_code == 200 and response.json()["address"] == PAYOKE_ADDRESS
        async with housing.runtime.pool.acquire() as conn:
            [audit] = await reads_of(conn, f"shelter:{shelter}")
        assert (audit.org, audit.what, audit.purpose) == (payoke, "shelter.address", PURPOSE["Harbour-Purpose"])
        for org, role in ((payoke, "caseworker"), (pag_asa, "housing")):
            denied = await housing.client.get(f"/housing/shelters/{shelter}/address",
                                              headers={**housing.token(org, role), **PURPOSE})  # fmt: skip
            assert denied.status_code in (403, 404) and not leaks(denied.text)

        # Intake admits a person who needs a bed tonight: placed automatically.
        tonight, person = await open_case(housing, intake, payoke, tonight=True)

        async def placed() -> bool:
            async with housing.runtime.pool.acquire() as conn:
                return await conn.fetchval("SELECT occupant FROM housing_beds WHERE occupant = $1", tonight) is not None

        await wait_until(placed, timeout=30)
        # A cross-centre placement accepted by the host, another declined, one withdrawn.
        crossing, _ = await open_case(housing, intake, payoke)
        declined, _ = await open_case(housing, intake, payoke)
        withdrawn, _ = await open_case(housing, intake, payoke)
        ids = {}
        for case_id in (crossing, declined, withdrawn):
            r = await housing.client.post(f"/housing/cases/{case_id}/cross-centre-requests",
                                          json={"host_centre": pag_asa, "urgency": "urgent"},
                                          headers=housing.token(payoke, "caseworker"))  # fmt: skip
            assert r.status_code == 201 and r.json()["status"] == "awaiting-acceptance", r.text
            ids[case_id] = r.json()["request_id"]
        host_staff = housing.token(pag_asa, "housing")
        accepted = await housing.client.post(f"/housing/requests/{ids[crossing]}/accept", json={},
                                             headers=host_staff)  # fmt: skip
        assert accepted.json()["status"] == "assigned" and accepted.json()["shelter_id"] == host
        r = await housing.client.post(f"/housing/requests/{ids[declined]}/decline", json={"reason": "safety"},
                                      headers=host_staff)  # fmt: skip
        assert r.json()["status"] == "declined"
        r = await housing.client.post(
            f"/housing/requests/{ids[withdrawn]}/withdraw",
            json={"reason": "no-longer-needed"},
            headers=housing.token(payoke, "manager"),
        )
        assert r.json()["status"] == "withdrawn"
        # Beds out of service and back; a caseworker's own request.
        staff = housing.token(payoke, "housing")
        assert (await housing.client.post(f"/housing/shelters/{shelter}/beds/b2/out-of-service", json={},
                                          headers=staff)).status_code == 204  # fmt: skip
        assert (await housing.client.post(f"/housing/shelters/{shelter}/beds/b2/in-service", json={},
                                          headers=staff)).status_code == 204  # fmt: skip
        own, _ = await open_case(housing, intake, payoke)
        assert (await request_bed(housing, payoke, own))["status"] == "assigned"
        # Moves: shelter -> transitional -> independent (sealed address), then the exits.
        worker = housing.token(payoke, "caseworker")
        r = await housing.client.post(f"/housing/cases/{tonight}/moves", json={"to": "transitional"}, headers=worker)
        assert r.status_code == 200 and r.json()["stage"] == "transitional", r.text
        r = await housing.client.post(
            f"/housing/cases/{tonight}/moves", json={"to": "independent", "address": HOME_ADDRESS}, headers=worker
        )
        assert r.status_code == 200, r.text
        home = await housing.client.get(f"/housing/cases/{tonight}/independent-address",
                                        headers={**worker, **PURPOSE})  # fmt: skip
        assert home.json()["address"] == HOME_ADDRESS
        await exit_case(housing, payoke, crossing, reason="returned-to-origin")
        await exit_case(housing, payoke, own, reason="rule-breach")
        for path in (
            "/housing/occupancy",
            "/housing/free-beds",
            "/housing/waiting-list",
            f"/housing/cases/{tonight}/history",
            "/housing/occupancy/history?since=2026-01-01",
        ):
            r = await housing.client.get(path, headers=worker)
            assert r.status_code == 200 and not leaks(r.text), path
        # Erasing the person (intake's PersonErased) shreds the key housing sealed the home address with.
        await erase_person(intake, person)

        async def erased() -> bool:
            r = await housing.client.get(f"/housing/cases/{tonight}/independent-address",
                                         headers={**worker, **PURPOSE})  # fmt: skip
            return r.json()["address"] == ERASED

        await wait_until(erased, timeout=30)
        await housing.runtime.relay.drain()
        async with housing.runtime.pool.acquire() as conn:
            stored = [json.dumps(dict(r), default=str) for r in await conn.fetch("SELECT * FROM events")]
            readable = [json.dumps([dict(r) for r in await conn.fetch(f"SELECT * FROM {t}")], default=str)
                        for t in ("housing_shelters", "housing_beds", "housing_requests", "housing_occupancy_daily",
                                  "case_registry", "inbox", "outbox_checkpoint")
                        if await conn.fetchval("SELECT to_regclass($1)", t)]  # fmt: skip
    telemetry.shutdown_providers()
    messages = await read_topic(bootstrap, "housing.events.v1")
    assert len(stored) > 20 and len(messages) >= len(stored)
    for text in stored + readable:
        assert not leaks(text)
    for message in messages:
        assert not leaks(repr(message.key) + message.value.decode() + repr(message.headers))
    assert len(caplog.records) > 0
    for record in caplog.records:
        assert not leaks(record.getMessage() + repr(record.args) + repr(record.__dict__))
    spans = SPANS.get_finished_spans()
    assert any(s.resource.attributes.get("service.name") == "housing" for s in spans)
    for span in spans:
        text = [span.name, repr(dict(span.attributes or {})), repr(span.status.description)]
        text += [e.name + repr(dict(e.attributes or {})) for e in span.events]
        assert not leaks(" ".join(text))
