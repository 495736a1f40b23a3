"""An erased key is gone from the database at once: not in a dead row version, not in free space, not in an index
or TOAST page. Proven by reading the raw pages of person_keys (pageinspect) for the wrapped key captured before the
erasure, and by trying to open the person's sealed values with the master key and whatever the pages still hold.

Observed before the fix (issue 12, observation 6): the erasure's UPDATE left the wrapped key in the row version
it replaced, and with the master key that copy opened 9 of 9 of the person's sealed values.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from harbour.pii import PersonalDataVault, new_master_key, purge_dead_key_copies
from harbour.settings import REPO_ROOT
from services.intake.app import DEFINITION
from tests.support.harness import fast_settings, running_service
from tests.support.intake_flow import PERSON, IntakeClient, clock
from tests.support.intake_privacy import sealed_values
from tests.support.key_pages import occurrences, open_with, raw_pages, unwrap_from_pages
from tests.support.waiting import wait_until

FIELDS = [f"field-{i}" for i in range(9)]


async def seal_nine(vault: PersonalDataVault, conn, person: str) -> list:
    return [await vault.seal(conn, person, field, f"value {field} of {person}", "event-1") for field in FIELDS]


def opened(pages: list[bytes], master_key: str, person: str, sealed: list) -> int:
    """How many of the person's sealed values open with a key the master key recovers from the pages."""
    keys = unwrap_from_pages(pages, master_key, person)
    return sum(
        1 for s, field in zip(sealed, FIELDS, strict=True) if any(open_with(k, s, field, "event-1") for k in keys)
    )


async def wrapped(conn, person: str) -> bytes:
    return await conn.fetchval("SELECT wrapped_key FROM person_keys WHERE person_id = $1", person)


async def test_an_erasure_alone_leaves_the_key_in_a_dead_row_and_the_purge_removes_it(fresh_db, db_pool):
    master = new_master_key()
    vault = PersonalDataVault(master, 1)
    # A bare connection, not a pooled one: the vault then has no pool to purge through, and what the erasure's
    # UPDATE alone leaves behind can be seen (the failure observed before the fix).
    conn = await asyncpg.connect(fresh_db)
    try:
        sealed = await seal_nine(vault, conn, "p-erased")
        kept = await seal_nine(vault, conn, "p-kept")
        before = await wrapped(conn, "p-erased")
        pages = await raw_pages(conn)
        assert occurrences(pages, before) == 1
        assert opened(pages, master, "p-erased", sealed) == 9
        async with conn.transaction():
            assert await vault.erase(conn, "p-erased") is True
        lingering = await raw_pages(conn)
        assert occurrences(lingering, before) == 1  # the dead row version, with the wrapped key
        assert opened(lingering, master, "p-erased", sealed) == 9
        assert await conn.fetchval("SELECT count(*) FROM person_key_purges WHERE purged_at IS NULL") == 1

        outcome = await purge_dead_key_copies(db_pool, wait_seconds=30)
        assert (outcome.purged, outcome.pending) == (1, 0), outcome

        after = await raw_pages(conn)
        assert occurrences(after, before) == 0
        assert opened(after, master, "p-erased", sealed) == 0
        # The scan is not blind: the person who was not erased still opens from the very same pages.
        assert occurrences(after, await wrapped(conn, "p-kept")) == 1
        assert opened(after, master, "p-kept", kept) == 9
        assert [await vault.open(conn, s, f, "event-1") for s, f in zip(kept, FIELDS, strict=True)] == [
            f"value {f} of p-kept" for f in FIELDS
        ]
        assert await conn.fetchval("SELECT count(*) FROM person_key_purges WHERE purged_at IS NULL") == 0
    finally:
        await conn.close()


async def test_an_erasure_on_a_pooled_connection_purges_by_itself_once_it_commits(db_pool):
    master = new_master_key()
    vault = PersonalDataVault(master, 1)
    async with db_pool.acquire() as conn:
        sealed = await seal_nine(vault, conn, "p-1")
        before = await wrapped(conn, "p-1")
        async with conn.transaction():
            await vault.erase(conn, "p-1")
            await asyncio.sleep(0.2)  # the purge waits for this transaction to end, it does not run inside it
            assert occurrences(await raw_pages(conn), before) == 1
    await vault.wait_for_purges()
    async with db_pool.acquire() as conn:
        pages = await raw_pages(conn)
        assert occurrences(pages, before) == 0
        assert opened(pages, master, "p-1", sealed) == 0
        assert await conn.fetchval("SELECT count(*) FROM person_key_purges WHERE purged_at IS NULL") == 0


async def test_the_purge_waits_for_an_older_snapshot_and_never_marks_a_copy_purged_while_one_can_see_it(
    fresh_db, db_pool
):
    master = new_master_key()
    vault = PersonalDataVault(master, 1)
    reader = await asyncpg.connect(fresh_db)
    conn = await asyncpg.connect(fresh_db)
    try:
        sealed = await seal_nine(vault, conn, "p-1")
        before = await wrapped(conn, "p-1")
        # A report that began before the erasure: its snapshot still sees the key, so PostgreSQL would copy the
        # dead row version into a rewritten table. The purge must wait for it, not pretend.
        old_snapshot = reader.transaction(isolation="repeatable_read")
        await old_snapshot.start()
        assert await reader.fetchval("SELECT count(*) FROM person_keys") == 1
        async with conn.transaction():
            await vault.erase(conn, "p-1")
        held = await purge_dead_key_copies(db_pool, wait_seconds=1.0)
        assert (held.purged, held.pending) == (0, 1)
        assert "snapshot" in (held.held_back_by or "")
        assert occurrences(await raw_pages(conn), before) == 1
        assert await reader.fetchval("SELECT wrapped_key FROM person_keys") == before  # what it is waited for
        await old_snapshot.rollback()

        done = await purge_dead_key_copies(db_pool, wait_seconds=30)
        assert (done.purged, done.pending) == (1, 0)
        pages = await raw_pages(conn)
        assert occurrences(pages, before) == 0 and opened(pages, master, "p-1", sealed) == 0
    finally:
        await reader.close()
        await conn.close()


async def test_a_command_holding_the_keys_table_is_not_blocked_for_long_and_the_purge_retries(fresh_db, db_pool):
    vault = PersonalDataVault(new_master_key(), 1)
    conn = await asyncpg.connect(fresh_db)
    busy = await asyncpg.connect(fresh_db)
    try:
        await seal_nine(vault, conn, "p-1")
        before = await wrapped(conn, "p-1")
        async with conn.transaction():
            await vault.erase(conn, "p-1")
        # A command that read a key after the erasure and has not committed yet: it holds the table's share lock.
        command = busy.transaction()
        await command.start()
        await busy.fetchval("SELECT count(*) FROM person_keys")
        purge = asyncio.create_task(purge_dead_key_copies(db_pool, wait_seconds=1.5))
        # The command goes on working meanwhile: every statement answers, none waits past the lock timeout.
        answered = 0
        while not purge.done():
            await asyncio.wait_for(busy.fetchval("SELECT count(*) FROM person_keys"), timeout=2)
            answered += 1
            await asyncio.sleep(0.05)
        busy_outcome = await purge
        assert answered > 0
        assert (busy_outcome.purged, busy_outcome.pending) == (0, 1)
        assert "busy" in (busy_outcome.held_back_by or "")
        await command.commit()
        done = await purge_dead_key_copies(db_pool, wait_seconds=30)
        assert (done.purged, done.pending) == (1, 0)
        assert occurrences(await raw_pages(conn), before) == 0
    finally:
        await busy.close()
        await conn.close()


# -- through intake: the manager's endpoint and `harbour erase` ----------------------------------------------------

PREFIX = f"harbour_test_{uuid.uuid4().hex[:8]}_"


@pytest.fixture(scope="module")
async def intake(pg_server_url: str, broker) -> AsyncIterator[IntakeClient]:
    if not broker.is_running:
        broker.start()
    settings = fast_settings(database_prefix=PREFIX, master_key=new_master_key())
    async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=broker.bootstrap, clock=clock(),
                               settings=settings, database=DEFINITION.database(settings)) as service:  # fmt: skip
        yield IntakeClient(service)


async def sealed_values_of(conn, person_id: str) -> list[tuple]:
    """Every sealed value of the person in intake's event store: (Sealed, field, aad = the event's id)."""
    found = []
    for row in await conn.fetch("SELECT event_id, payload::text AS payload FROM events ORDER BY global_position"):
        for field, sealed in sealed_values(json.loads(row["payload"])):
            if sealed.person_id == person_id:
                found.append((sealed, field, str(row["event_id"])))
    return found


def opened_from_pages(pages, master, person_id, values) -> int:
    keys = unwrap_from_pages(pages, master, person_id)
    return sum(1 for sealed, field, aad in values if any(open_with(k, sealed, field, aad) for k in keys))


async def erase_through(intake: IntakeClient, how: str) -> None:
    case = await intake.referral_at("admitted", person=PERSON)
    person_id = case["person_id"]
    runtime = intake.service.runtime
    master = intake.service.settings.master_key
    async with runtime.pool.acquire() as conn:
        values = await sealed_values_of(conn, person_id)
        before = await wrapped(conn, person_id)
        pages = await raw_pages(conn)
    assert len(values) >= 9 and occurrences(pages, before) == 1
    assert opened_from_pages(pages, master, person_id, values) == len(values)

    if how == "endpoint":
        answer = await intake.client.post(f"/persons/{person_id}/erasure", json={"reason": "person-request"},
                                          headers=intake.centre(role="manager"))  # fmt: skip
        assert answer.status_code == 200, answer.text
        await runtime.vault.wait_for_purges()
    else:
        pg_server = runtime.endpoints.database_url.rpartition("/")[0] + "/postgres"
        env = {**os.environ, "HARBOUR_DATABASE_URL": pg_server, "HARBOUR_DATABASE_PREFIX": PREFIX,
               "HARBOUR_MASTER_KEY": master}  # fmt: skip
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "harbour_tools.cli.main", "erase", person_id, "--reason", "retention-ended",
            cwd=REPO_ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output = (await process.communicate())[0].decode()
        assert process.returncode == 0, output
        # The command returns only once the copy is out of the pages, and says so.
        assert "key purged from the keys table's pages" in output, output

    async with runtime.pool.acquire() as conn:
        pages = await raw_pages(conn)
        assert await conn.fetchval("SELECT count(*) FROM person_key_purges WHERE purged_at IS NULL") == 0
    assert occurrences(pages, before) == 0
    assert opened_from_pages(pages, master, person_id, values) == 0


async def test_a_person_erased_through_intakes_endpoint_leaves_no_openable_key_in_the_pages(intake):
    await erase_through(intake, "endpoint")


async def test_harbour_erase_returns_once_the_key_is_out_of_the_pages(intake):
    await erase_through(intake, "cli")


# -- through housing: intake's PersonErased, consumed in the inbox's transaction ---------------------------------


async def test_housing_erasing_on_intakes_personerased_leaves_no_openable_key_in_its_pages(pg_server_url, own_broker):
    from services.housing.app import DEFINITION as HOUSING
    from tests.support.housing_env import erase_person, open_case, register_shelter
    from tests.support.upstream import upstream

    master = new_master_key()
    settings = fast_settings(master_key=master)
    # Its own broker: the cases the module's other tests put on intake's topic would otherwise be read from the
    # start by this housing service, and one of them could take the one bed this case is to be placed in.
    bootstrap = own_broker.bootstrap
    async with (
        running_service(HOUSING, pg_server_url=pg_server_url, bootstrap=bootstrap, settings=settings) as housing,
        upstream("intake", pg_server_url=pg_server_url, bootstrap=bootstrap) as intake,
    ):
        centre = "centre-payoke"
        await register_shelter(housing, centre, {"b1": []})
        case_id, person_id = await open_case(housing, intake, centre, tonight=True)
        worker = housing.token(centre, "caseworker")

        async def placed() -> bool:
            async with housing.runtime.pool.acquire() as conn:
                return await conn.fetchval("SELECT 1 FROM housing_beds WHERE occupant = $1", case_id) is not None

        await wait_until(placed, timeout=30)
        for body in ({"to": "transitional"}, {"to": "independent", "address": "Vrijheidslaan 12, 2018 Antwerpen"}):
            r = await housing.client.post(f"/housing/cases/{case_id}/moves", json=body, headers=worker)
            assert r.status_code == 200, r.text
        async with housing.runtime.pool.acquire() as conn:
            before = await wrapped(conn, person_id)
            values = [
                (sealed, field, str(row["event_id"]))
                for row in await conn.fetch("SELECT event_id, payload::text AS payload FROM events")
                for field, sealed in sealed_values(json.loads(row["payload"]))
                if sealed.person_id == person_id
            ]
            pages = await raw_pages(conn)
        assert before is not None and len(values) == 1
        assert occurrences(pages, before) == 1 and opened_from_pages(pages, master, person_id, values) == 1

        await erase_person(intake, person_id)

        async def purged() -> bool:
            async with housing.runtime.pool.acquire() as conn:
                erased = await conn.fetchval("SELECT erased_at FROM person_keys WHERE person_id = $1", person_id)
                pending = await conn.fetchval("SELECT count(*) FROM person_key_purges WHERE purged_at IS NULL")
                return erased is not None and pending == 0

        await wait_until(purged, timeout=30)
        async with housing.runtime.pool.acquire() as conn:
            pages = await raw_pages(conn)
    assert occurrences(pages, before) == 0
    assert opened_from_pages(pages, master, person_id, values) == 0
