"""Erasure: before it, the person's data open (through the vault) from the raw event table, the read models and
the Kafka topic; after it, from nowhere. The clear values are never stored or published, before or after, and
the case's non-identifying facts remain. Through the manager's endpoint and through ``harbour erase``."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator

import pytest

from harbour.settings import REPO_ROOT
from services.intake.app import DEFINITION
from tests.support.harness import fast_settings, running_service
from tests.support.intake_flow import CIRCUMSTANCES, CLEAR_STRINGS, PERSON, IntakeClient, clock
from tests.support.intake_privacy import (
    open_published,
    open_read_models,
    open_stored,
    raw_event_rows,
    read_model_rows,
    record_text,
    topic_records,
)
from tests.support.kafka import headers_of
from tests.support.waiting import wait_until

PREFIX = f"harbour_test_{uuid.uuid4().hex[:8]}_"  # the CLI finds intake's database from the settings' prefix
PURPOSE = {"Harbour-Purpose": "checking erasure"}
EXPECTED_CLEAR = {CIRCUMSTANCES, PERSON["names"], PERSON["sex"], PERSON["date_of_birth"], PERSON["nationality"],
                  PERSON["phone"], PERSON["photo_reference"], '["Vanny Q-Kestrel"]', '["en", "yo"]',
                  '["PX-77881299"]'}  # fmt: skip


@pytest.fixture(scope="module")
async def intake(pg_server_url: str, broker) -> AsyncIterator[IntakeClient]:
    if not broker.is_running:
        broker.start()
    settings = fast_settings(database_prefix=PREFIX)
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=broker.bootstrap, clock=clock(),
                               settings=settings, database=DEFINITION.database(settings)) as service:  # fmt: skip
        yield IntakeClient(service)


async def published_up_to_the_head(intake: IntakeClient) -> None:
    relay, pool = intake.service.runtime.relay, intake.service.runtime.pool
    async with pool.acquire() as conn:
        # The last committed event, not store.head(): the head lags while any transaction is open.
        last = await conn.fetchval("SELECT max(global_position) FROM events")

    async def caught_up() -> bool:
        return (await relay.checkpoint()).global_position >= last

    await wait_until(caught_up, timeout=30)


def no_clear_value_in(texts: list[str]) -> bool:
    return not [s for s in CLEAR_STRINGS for text in texts if s in text]


async def everywhere(intake: IntakeClient, person_id: str) -> tuple[list, list, list]:
    """What opens of the person's data from the event store, the read models and the topic (None = erased)."""
    await published_up_to_the_head(intake)
    runtime = intake.service.runtime
    records = await topic_records(intake.service.runtime.endpoints.bootstrap)
    async with runtime.pool.acquire() as conn:
        assert no_clear_value_in(await raw_event_rows(conn))
        assert no_clear_value_in(await read_model_rows(conn))
        assert no_clear_value_in([record_text(r) for r in records])
        return (await open_stored(conn, runtime.vault, person_id), await open_read_models(conn, runtime.vault,
                person_id), await open_published(conn, runtime.vault, records, person_id))  # fmt: skip


async def test_after_erasure_the_persons_data_open_nowhere_and_the_case_remains(intake):
    case = await intake.referral_at("admitted", person=PERSON)
    person_id, case_id = case["person_id"], case["case_id"]
    stored, projected, published = await everywhere(intake, person_id)
    assert set(stored) == set(projected) == set(published) == EXPECTED_CLEAR

    manager = intake.centre(role="manager")
    erased = await intake.client.post(f"/persons/{person_id}/erasure", json={"reason": "person-request"},
                                      headers=manager)  # fmt: skip
    assert erased.status_code == 200, erased.text
    assert erased.json() == {"person_id": person_id, "erased_on": "2026-01-05", "reason": "person-request"}

    stored, projected, published = await everywhere(intake, person_id)
    assert len(stored) == len(EXPECTED_CLEAR) and set(stored) == {None}
    assert len(projected) == len(EXPECTED_CLEAR) and set(projected) == {None}
    assert len(published) >= len(EXPECTED_CLEAR) and set(published) == {None}
    # The erasure itself is published, keyed by the case, and says only who, why and when.
    records = await topic_records(intake.service.runtime.endpoints.bootstrap)
    print(
        [
            (headers_of(r)["event_type"], headers_of(r)["stream_id"], r.key)
            for r in records
            if r.key == case_id.encode() or b"person" in r.value
        ][-5:],
        person_id,
    )
    [message] = [r for r in records if headers_of(r)["event_type"] == "PersonErased"
                 and headers_of(r)["stream_id"] == f"person-{person_id}"]  # fmt: skip
    assert message.key == case_id.encode()
    assert set(json.loads(message.value)) == {"person_id", "reason", "erased_on"}
    # The case's facts remain for justice and statistics; the person reads as erased.
    kept = (await intake.client.get(f"/cases/{case_id}", headers=intake.centre())).json()
    assert kept["exploitation_types"] == ["labour-exploitation"] and kept["opened_on"] == "2026-01-05"
    assert kept["person_erased"] is True and kept["referring_organisation_id"] == "police-federal"
    person = (await intake.client.get(f"/persons/{person_id}", headers={**intake.centre(), **PURPOSE})).json()
    assert person["erased"] is True and person["circumstances"] == "[erased]"
    assert set(person["identity"].values()) == {"[erased]"} and len(person["identity"]) == len(PERSON)
    # Nothing personal can be recorded for the person again, and the erasure happens once.
    again = await intake.command(f"/referrals/{case['referral_id']}/identity", {"names": "New Name"}, status=422)
    assert again["field"] == "person_id"
    twice = await intake.client.post(f"/persons/{person_id}/erasure", json={"reason": "person-request"},
                                     headers=manager)  # fmt: skip
    assert twice.status_code == 422 and twice.json()["field"] == "person_id"


async def test_an_erasure_needs_a_reason_from_the_list(intake):
    case = await intake.referral_at("submitted")
    for body, field in (({}, "reason"), ({"reason": "because"}, "reason"), ({"reason": "person-request", "note":
                        "x"}, "note")):  # fmt: skip
        answer = await intake.client.post(f"/persons/{case['person_id']}/erasure", json=body,
                                          headers=intake.centre(role="manager"))  # fmt: skip
        assert answer.status_code == 422 and answer.json()["field"] == field


async def run_cli(intake: IntakeClient, *args: str) -> tuple[int, str]:
    pg_server = intake.service.runtime.endpoints.database_url.rpartition("/")[0] + "/postgres"
    env = {**os.environ, "HARBOUR_DATABASE_URL": pg_server, "HARBOUR_DATABASE_PREFIX": PREFIX}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c",
        "import harbour_tools.cli.erase, harbour_tools.cli.main; from harbour_tools.cli import app; app()", *args,
        cwd=REPO_ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def test_harbour_erase_erases_the_person_in_the_intake_database(intake):
    view = await intake.referral_at("accepted", person=PERSON)
    person_id = view["person_id"]
    stored, _, _ = await everywhere(intake, person_id)
    assert set(stored) == EXPECTED_CLEAR
    code, output = await run_cli(intake, "erase", person_id, "--reason", "retention-ended")
    assert code == 0, output
    assert f"person {person_id} erased" in output
    stored, projected, published = await everywhere(intake, person_id)
    assert set(stored) == set(projected) == set(published) == {None}
    [erased] = await intake.service.runtime.store.read_stream(f"person-{person_id}")
    assert erased.payload["reason"] == "retention-ended" and erased.actor.role == "system"
    assert erased.case_id == view["referral_id"]  # not admitted: keyed by the referral
    code, output = await run_cli(intake, "erase", "no-such-person", "--reason", "person-request")
    assert code == 1 and "no person no-such-person" in output
