"""Shelters travel by id: a shelter's name, like its address, stays in housing.

Observed before (issue 12, observation 7): ``ShelterRegistered`` carried the shelter's name on housing.events.v1.
Now v2 carries ids only, the name is in housing's private ``shelter_names`` (written in the registration's
transaction), v1 records are upcast without it, and the migration moved the names of an existing store out of its
stored v1 events. A whole housing scenario on the real broker leaves the name on no topic (housing's own and every
milestone topic, scanned as bytes), in no log record and no span; housing staff still see it through the API.
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaConsumer
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from harbour import telemetry
from harbour.db import HARBOUR_MIGRATIONS, create_pool, database_url, ensure_database, migrate
from harbour.events import EVENT_TYPES
from schemas.housing import ShelterRegistered
from services.housing.app import DEFINITION
from tests.support.harness import running_service
from tests.support.housing_env import exit_case, open_case, register_shelter, request_bed
from tests.support.kafka import read_topic, read_topics
from tests.support.upstream import upstream
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SPANS = InMemorySpanExporter()
telemetry.EXTRA_SPAN_PROCESSORS.append(SimpleSpanProcessor(SPANS))
for _provider in telemetry._providers.values():  # providers made before this module was imported
    _provider.add_span_processor(SimpleSpanProcessor(SPANS))

SECRET = uuid.uuid4().hex[:12]  # a token that can only come from our shelters' names
NAMES = {"centre-payoke": f"Huis Zonnebloem {SECRET}", "centre-pag-asa": f"Maison des Tilleuls {SECRET}"}


def leaks(data: bytes | str) -> bool:
    text = data.decode(errors="replace") if isinstance(data, bytes) else data
    return SECRET in text or "Zonnebloem" in text or "Tilleuls" in text


def test_a_stored_v1_shelter_registration_is_read_as_v2_without_its_name():
    fixture = json.loads((FIXTURES / "shelter_registered_v1.json").read_text())
    event = EVENT_TYPES.decode(fixture["event_type"], fixture["schema_version"], fixture["payload"])
    assert isinstance(event, ShelterRegistered) and ShelterRegistered.schema_version == 2
    assert event.shelter_id == "sh-0123456789ab" and [b.bed_id for b in event.beds] == ["b1", "b2"]
    assert "name" not in ShelterRegistered.model_fields and "name" not in event.model_dump()


def test_schemas_check_accepts_shelter_registered_v2_only_while_v1_is_upcast(monkeypatch):
    from harbour_tools import contracts

    assert [b for b in contracts.check() if b.contract.startswith("ShelterRegistered")] == []
    # Without the upcaster, a v1 record still on the topic or in a store would not decode: a break.
    monkeypatch.delitem(EVENT_TYPES._upcasters, ("ShelterRegistered", 1))
    assert [str(b) for b in contracts.check() if b.contract.startswith("ShelterRegistered")] == [
        "ShelterRegistered.v1.json: no upcaster from v1 to v2: stored and published v1 records would not decode"
    ]


async def every_topic(bootstrap: str) -> dict[str, list]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        names = await consumer.topics()
    finally:
        await consumer.stop()
    return await read_topics(bootstrap, sorted(names))


async def test_a_whole_housing_scenario_puts_no_shelter_name_on_any_topic_log_or_span_and_staff_still_see_it(
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
        shelter = await register_shelter(housing, payoke, {"b1": [], "b2": []}, name=NAMES[payoke])
        host = await register_shelter(housing, pag_asa, {"h1": []}, name=NAMES[pag_asa])
        # Placed tonight (a milestone to the centre), a cross-centre placement, a caseworker's request, exits.
        tonight, _ = await open_case(housing, intake, payoke, tonight=True)

        async def placed() -> bool:
            async with housing.runtime.pool.acquire() as conn:
                return await conn.fetchval("SELECT 1 FROM housing_beds WHERE occupant = $1", tonight) is not None

        await wait_until(placed, timeout=30)
        crossing, _ = await open_case(housing, intake, payoke)
        r = await housing.client.post(f"/housing/cases/{crossing}/cross-centre-requests",
                                      json={"host_centre": pag_asa, "urgency": "urgent"},
                                      headers=housing.token(payoke, "caseworker"))  # fmt: skip
        assert r.status_code == 201, r.text
        accepted = await housing.client.post(f"/housing/requests/{r.json()['request_id']}/accept", json={},
                                             headers=housing.token(pag_asa, "housing"))  # fmt: skip
        assert accepted.json()["shelter_id"] == host
        own, _ = await open_case(housing, intake, payoke)
        assert (await request_bed(housing, payoke, own))["status"] == "assigned"
        await exit_case(housing, payoke, own, reason="moved-on")

        # Housing staff see their own shelters' names, and only their own.
        views = {}
        for org in (payoke, pag_asa):
            answer = await housing.client.get("/housing/occupancy", headers=housing.token(org, "housing"))
            assert answer.status_code == 200, answer.text
            views[org] = {s["shelter_id"]: s["name"] for s in answer.json()["items"]}
        assert views == {payoke: {shelter: NAMES[payoke]}, pag_asa: {host: NAMES[pag_asa]}}
        for path in ("/housing/free-beds", "/housing/waiting-list", f"/housing/cases/{tonight}/history"):
            answer = await housing.client.get(path, headers=housing.token(payoke, "caseworker"))
            assert answer.status_code == 200 and not leaks(answer.text), path

        await housing.runtime.relay.drain()
        if housing.runtime.milestone_relay is not None:
            await housing.runtime.milestone_relay.drain()
        async with housing.runtime.pool.acquire() as conn:
            stored = await conn.fetch("SELECT event_type, schema_version, payload::text AS payload FROM events")
            names = {r["shelter_id"]: r["name"] for r in await conn.fetch("SELECT * FROM shelter_names")}
            read_models = [json.dumps([dict(r) for r in await conn.fetch(f"SELECT * FROM {t}")], default=str)
                           for t in ("housing_shelters", "housing_beds", "housing_requests",
                                     "housing_occupancy_daily")]  # fmt: skip
    telemetry.shutdown_providers()

    assert names == {shelter: NAMES[payoke], host: NAMES[pag_asa]}
    registrations = [r for r in stored if r["event_type"] == "ShelterRegistered"]
    assert len(registrations) == 2 and {r["schema_version"] for r in registrations} == {2}
    assert not [r for r in stored if leaks(r["payload"])] and not [t for t in read_models if leaks(t)]

    topics = await every_topic(bootstrap)
    housing_records = topics["housing.events.v1"]
    milestones = {t: rs for t, rs in topics.items() if t.startswith("milestones.") and not t.endswith(".dlq")}
    # Not a vacuous scan: the registrations and the placements' milestones are there to be read.
    assert sum(1 for r in housing_records if dict(r.headers)["event_type"] == b"ShelterRegistered") == 2
    assert sum(len(rs) for rs in milestones.values()) > 0
    leaked = [
        (topic, record.offset)
        for topic, records in topics.items()
        for record in records
        if leaks((record.key or b"") + record.value + b"".join(k.encode() + v for k, v in record.headers or []))
    ]
    assert leaked == []
    assert len(caplog.records) > 0
    for record in caplog.records:
        assert not leaks(record.getMessage() + repr(record.args) + repr(record.__dict__))
    spans = SPANS.get_finished_spans()
    assert any(s.resource.attributes.get("service.name") == "housing" for s in spans)
    for span in spans:
        text = [span.name, repr(dict(span.attributes or {})), repr(span.status.description)]
        text += [e.name + repr(dict(e.attributes or {})) for e in span.events]
        assert not leaks(" ".join(text))


async def test_an_existing_store_keeps_its_names_in_housing_and_never_publishes_them_again(
    pg_server_url, running_broker, tmp_path
):
    """A housing database from before v2: a v1 registration stored with its name, and the read model of then."""
    name = f"harbour_test_housing_{uuid.uuid4().hex[:8]}"
    await ensure_database(pg_server_url, name)
    old_migrations = tmp_path / "housing-before"
    old_migrations.mkdir()
    shutil.copy(DEFINITION.migrations / "0001_housing.sql", old_migrations)
    pool = await create_pool(database_url(pg_server_url, name), min_size=1, max_size=2)
    shelter = f"sh-{uuid4().hex[:12]}"
    payload = {"shelter_id": shelter, "centre": "centre-surya", "name": f"De Linde {SECRET}",
               "beds": [{"bed_id": "b1", "constraints": []}]}  # fmt: skip
    try:
        await migrate(pool, {"harbour": HARBOUR_MIGRATIONS, "housing": old_migrations})
        async with pool.acquire() as conn, conn.transaction():
            network = "shelter-network-centre-surya"
            await conn.execute(
                """SELECT * FROM harbour_append($1, 'shelter-network', ARRAY[$1], 0, 'BE', ARRAY[$2::uuid],
                       ARRAY['ShelterRegistered'], ARRAY[1], ARRAY[$3::jsonb], ARRAY[$4::timestamptz],
                       'centre-surya', 'housing', 'old', NULL, NULL, NULL)""",
                network, uuid4(), json.dumps(payload), datetime(2025, 6, 1, tzinfo=UTC),
            )  # fmt: skip
            # What the v1 projection wrote then.
            await conn.execute("INSERT INTO housing_shelters (shelter_id, centre, name) VALUES ($1, $2, $3)",
                               shelter, "centre-surya", payload["name"])  # fmt: skip
            await conn.execute("INSERT INTO housing_beds (shelter_id, bed_id, centre, constraints) VALUES ($1, 'b1', "
                               "'centre-surya', '{}')", shelter)  # fmt: skip
    finally:
        await pool.close()

    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=running_broker.bootstrap,
                               database=name) as housing:  # fmt: skip
        await housing.runtime.relay.drain()
        async with housing.runtime.pool.acquire() as conn:
            [row] = await conn.fetch(
                "SELECT schema_version, payload FROM events WHERE event_type = 'ShelterRegistered'"
            )
            kept = await conn.fetchval("SELECT name FROM shelter_names WHERE shelter_id = $1", shelter)
        answer = await housing.client.get("/housing/occupancy", headers=housing.token("centre-surya", "housing"))
        [registered] = await housing.runtime.store.read_stream("shelter-network-centre-surya")
    assert row["schema_version"] == 2 and "name" not in json.loads(row["payload"]) and not leaks(row["payload"])
    assert kept == payload["name"]
    assert answer.status_code == 200
    assert [(s["shelter_id"], s["name"]) for s in answer.json()["items"]] == [(shelter, payload["name"])]
    assert isinstance(registered.event, ShelterRegistered) and registered.event.shelter_id == shelter
    published = [r for r in await read_topic(running_broker.bootstrap, "housing.events.v1")
                 if dict(r.headers).get("stream_id") == b"shelter-network-centre-surya"]  # fmt: skip
    assert len(published) == 1 and dict(published[0].headers)["schema_version"] == b"2"
    assert not leaks(published[0].value)
