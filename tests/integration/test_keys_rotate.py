"""``harbour keys rotate``: every person key re-wrapped under the new master key, the old one retired (it opens
nothing in the table, and no old wrapped copy is left in its pages), the sealed values still open; safe to run
twice, and a rotation stopped half-way is finished by running it again while services with both keys read on."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from harbour.db import HARBOUR_MIGRATIONS, create_pool, database_url, drop_database, ensure_database, migrate
from harbour.pii import PersonalDataVault, decode_master_key, new_master_key
from harbour.settings import REPO_ROOT
from tests.support.key_pages import occurrences, raw_pages, unwrap_from_pages

OLD, NEW = new_master_key(), new_master_key()


@pytest.fixture
async def keys_db(pg_server_url: str) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    """The keys table of an "intake" database under a prefix of its own (the command finds it from the settings)."""
    prefix = f"harbour_test_{uuid.uuid4().hex[:8]}_"
    name = f"{prefix}intake"
    await ensure_database(pg_server_url, name)
    pool = await create_pool(database_url(pg_server_url, name), min_size=1, max_size=4)
    await migrate(pool, {"harbour": HARBOUR_MIGRATIONS})
    yield prefix, pool
    await pool.close()
    await drop_database(pg_server_url, name)


def env_for(pg_server_url: str, prefix: str, current: tuple[int, str], ring: dict[int, str]) -> dict[str, str]:
    return {**os.environ, "HARBOUR_DATABASE_URL": pg_server_url, "HARBOUR_DATABASE_PREFIX": prefix,
            "HARBOUR_MASTER_KEY_VERSION": str(current[0]), "HARBOUR_MASTER_KEY": current[1],
            "HARBOUR_MASTER_KEY_RING": json.dumps({str(v): k for v, k in ring.items()})}  # fmt: skip


async def start_cli(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "harbour_tools.cli.main", *args, cwd=REPO_ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def run_cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await start_cli(env, *args)
    output = (await process.communicate())[0].decode()
    return process.returncode or 0, output


async def populate(pool: asyncpg.Pool, vault: PersonalDataVault, persons: int, erased: int = 0) -> dict[str, object]:
    sealed = {}
    async with pool.acquire() as conn:
        for i in range(persons):
            person = f"p-{i:04d}"
            sealed[person] = await vault.seal(conn, person, "names", f"name of {person}", "e-1")
        for i in range(erased):
            await vault.erase(conn, f"p-{i:04d}")
    await vault.wait_for_purges()
    return sealed


async def wrapped_keys(pool: asyncpg.Pool) -> dict[str, tuple[bytes, int]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT person_id, wrapped_key, master_key_version FROM person_keys WHERE erased_at IS NULL"
        )
    return {r["person_id"]: (r["wrapped_key"], r["master_key_version"]) for r in rows}


def opens_under(master: str, person: str, wrapped: bytes) -> bool:
    try:
        AESGCM(decode_master_key(master)).decrypt(wrapped[:12], wrapped[12:], f"harbour.person-key:{person}:1".encode())
    except InvalidTag:
        return False
    return True


async def open_all(pool: asyncpg.Pool, vault: PersonalDataVault, sealed: dict) -> int:
    async with pool.acquire() as conn:
        values = await vault.open_many(conn, [(s, "names", "e-1") for s in sealed.values()])
    return sum(1 for person, value in zip(sealed, values, strict=True) if value == f"name of {person}")


async def test_a_rotation_rewraps_every_key_retires_the_old_master_key_and_is_safe_to_run_twice(pg_server_url, keys_db):
    prefix, pool = keys_db
    sealed = await populate(pool, PersonalDataVault(OLD, 1), persons=60, erased=3)
    live = {p: s for p, s in sealed.items() if p not in {"p-0000", "p-0001", "p-0002"}}
    old_wrapped = await wrapped_keys(pool)
    assert len(old_wrapped) == 57 and {v for _, v in old_wrapped.values()} == {1}
    async with pool.acquire() as conn:
        pages = await raw_pages(conn)
    assert all(occurrences(pages, w) == 1 for w, _ in old_wrapped.values())

    env = env_for(pg_server_url, prefix, (2, NEW), {1: OLD})
    code, output = await run_cli(env, "keys", "rotate", "intake", "--batch-size", "10")
    assert code == 0, output
    assert "57 key(s) re-wrapped under master key version 2" in output
    assert "version(s) [1] open nothing here" in output

    rotated = await wrapped_keys(pool)
    assert set(rotated) == set(old_wrapped) and {v for _, v in rotated.values()} == {2}
    assert sum(opens_under(OLD, p, w) for p, (w, _) in rotated.items()) == 0
    assert sum(opens_under(NEW, p, w) for p, (w, _) in rotated.items()) == 57
    # A process given the new key only reads every value; the erased stay erased.
    assert await open_all(pool, PersonalDataVault(NEW, 2), live) == 57
    async with pool.acquire() as conn:
        erased = await PersonalDataVault(NEW, 2).open(conn, sealed["p-0000"], "names", "e-1")
        pages = await raw_pages(conn)
        assert await conn.fetchval("SELECT count(*) FROM person_key_purges WHERE purged_at IS NULL") == 0
    assert erased is None
    # No old wrapped copy in any page, and the old master key recovers no key of anyone from them (a sample:
    # the brute force tries every byte offset).
    assert sum(occurrences(pages, w) for w, _ in old_wrapped.values()) == 0
    assert all(not unwrap_from_pages(pages, OLD, person) for person in ("p-0003", "p-0030", "p-0059"))
    assert all(unwrap_from_pages(pages, NEW, person) for person in ("p-0003", "p-0030", "p-0059"))

    code, output = await run_cli(env, "keys", "rotate", "intake")
    assert code == 0, output
    assert "0 key(s) re-wrapped" in output
    assert await wrapped_keys(pool) == rotated  # nothing rewritten the second time
    assert await open_all(pool, PersonalDataVault(NEW, 2), live) == 57

    code, output = await run_cli(env, "keys", "status", "intake")
    assert code == 0 and "erased persons: 3; purges pending: 0" in output, output


async def test_a_rotation_stopped_half_way_is_finished_by_running_it_again_while_services_read_on(
    pg_server_url, keys_db
):
    prefix, pool = keys_db
    sealed = await populate(pool, PersonalDataVault(OLD, 1), persons=200)
    old_wrapped = await wrapped_keys(pool)
    # Step 1 of the runbook done: the processes still on the old key also know the new one, and the rotated
    # ones (new key current) still know the old one.
    not_yet_restarted = PersonalDataVault(OLD, 1, previous_master_keys={2: NEW})
    restarted = PersonalDataVault(NEW, 2, previous_master_keys={1: OLD})
    env = env_for(pg_server_url, prefix, (2, NEW), {1: OLD})

    process = await start_cli(env, "keys", "rotate", "intake", "--batch-size", "5", "--pause", "0.1")
    reads_during = []
    while True:
        versions = {v for _, v in (await wrapped_keys(pool)).values()}
        reads_during.append((await open_all(pool, not_yet_restarted, sealed), await open_all(pool, restarted, sealed)))
        if versions == {1, 2}:
            break
        assert process.returncode is None, "the rotation ended before it could be stopped"
        await asyncio.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    await process.wait()

    half = await wrapped_keys(pool)
    moved = sum(1 for _, v in half.values() if v == 2)
    assert 0 < moved < 200
    # Half-way, every value still opens in both kinds of process, and a process still on the old key goes on
    # creating keys under it.
    assert await open_all(pool, not_yet_restarted, sealed) == 200
    assert await open_all(pool, restarted, sealed) == 200
    assert set(reads_during) == {(200, 200)}
    async with pool.acquire() as conn:
        sealed["p-late"] = await not_yet_restarted.seal(conn, "p-late", "names", "name of p-late", "e-1")

    code, output = await run_cli(env, "keys", "rotate", "intake")
    assert code == 0, output
    assert f"{200 - moved + 1} key(s) re-wrapped" in output
    done = await wrapped_keys(pool)
    assert len(done) == 201 and {v for _, v in done.values()} == {2}
    assert sum(opens_under(OLD, p, w) for p, (w, _) in done.items()) == 0
    assert await open_all(pool, PersonalDataVault(NEW, 2), sealed) == 201
    async with pool.acquire() as conn:
        pages = await raw_pages(conn)
    assert sum(occurrences(pages, w) for w, _ in old_wrapped.values()) == 0


async def test_a_rotation_refuses_when_a_key_is_wrapped_by_a_version_it_was_not_given(pg_server_url, keys_db):
    prefix, pool = keys_db
    await populate(pool, PersonalDataVault(OLD, 1), persons=3)
    code, output = await run_cli(env_for(pg_server_url, prefix, (2, NEW), {}), "keys", "rotate", "intake")
    assert code == 1 and "HARBOUR_MASTER_KEY_RING" in output, output
    assert {v for _, v in (await wrapped_keys(pool)).values()} == {1}
