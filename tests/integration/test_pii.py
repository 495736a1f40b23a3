"""The personal-data vault's promises, against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import uuid

import pytest

from harbour.pii import (
    ERASED,
    PersonalDataVault,
    PersonErasedError,
    SealBroken,
    ensure_dev_master_key,
    new_master_key,
)
from harbour.settings import HarbourSettings

NAME = "Ayodele Okonkwo-Verhaegen"


@pytest.fixture
def vault() -> PersonalDataVault:
    return PersonalDataVault(new_master_key(), 1)


async def test_a_sealed_value_opens_to_the_same_text(db_pool, vault):
    person, event = uuid.uuid4(), uuid.uuid4()
    async with db_pool.acquire() as conn, conn.transaction():
        sealed = await vault.seal(conn, person, "names", NAME, event)
    async with db_pool.acquire() as conn:
        assert sealed.person_id == str(person)
        assert await vault.open(conn, sealed, "names", event) == NAME
        assert await vault.open(conn, sealed, "names", str(event)) == NAME


async def test_every_value_of_one_person_is_sealed_under_one_key(db_pool, vault):
    person = uuid.uuid4()
    async with db_pool.acquire() as conn:
        first = await vault.seal(conn, person, "names", NAME, "e1")
        second = await vault.seal(conn, person, "phone", "+32 470 12 34 56", "e2")
        assert await conn.fetchval("SELECT count(*) FROM person_keys WHERE person_id = $1", str(person)) == 1
        assert await vault.open_many(conn, [(first, "names", "e1"), (second, "phone", "e2"), (None, "x", "e3")]) == [
            NAME,
            "+32 470 12 34 56",
            None,
        ]


async def test_a_value_does_not_open_for_another_event_or_another_field(db_pool, vault):
    person, event = uuid.uuid4(), uuid.uuid4()
    async with db_pool.acquire() as conn:
        sealed = await vault.seal(conn, person, "names", NAME, event)
        with pytest.raises(SealBroken):
            await vault.open(conn, sealed, "names", uuid.uuid4())
        with pytest.raises(SealBroken):
            await vault.open(conn, sealed, "aliases", event)


async def test_an_altered_ciphertext_does_not_open_and_the_error_does_not_quote_the_value(db_pool, vault):
    async with db_pool.acquire() as conn:
        sealed = await vault.seal(conn, "p-1", "names", NAME, "e1")
        raw = bytearray(base64.b64decode(sealed.ciphertext))
        raw[0] ^= 1
        altered = sealed.model_copy(update={"ciphertext": base64.b64encode(bytes(raw)).decode()})
        with pytest.raises(SealBroken) as caught:
            await vault.open(conn, altered, "names", "e1")
        assert NAME not in str(caught.value)


async def test_the_ciphertext_contains_no_clear_bytes_of_the_value(db_pool, vault):
    value = "Maria Popescu, born 1999-04-12, passport RO1234567"
    async with db_pool.acquire() as conn:
        sealed = await vault.seal(conn, "p-1", "identity", value, "e1")
        stored_key = await conn.fetchval("SELECT wrapped_key FROM person_keys WHERE person_id = 'p-1'")
    carried = sealed.model_dump_json().encode()
    blob = base64.b64decode(sealed.ciphertext)
    for word in value.replace(",", "").split():
        assert word.encode() not in blob
        assert word.encode() not in carried
    assert value.encode() not in carried
    assert len(stored_key) == 12 + 32 + 16  # nonce, wrapped AES-256 key, tag: never the clear key alone


async def test_erasing_a_person_makes_all_their_values_unreadable_while_others_stay_readable(db_pool, vault):
    erased, other = uuid.uuid4(), uuid.uuid4()
    async with db_pool.acquire() as conn:
        sealed = [await vault.seal(conn, erased, f, f"value of {f}", f"e-{f}") for f in ("names", "phone", "dob")]
        kept = await vault.seal(conn, other, "names", NAME, "e-other")
        async with conn.transaction():
            assert await vault.erase(conn, erased) is True
        assert await vault.is_erased(conn, erased)
        assert not await vault.is_erased(conn, other)
        assert [
            await vault.open(conn, s, s_field, f"e-{s_field}")
            for s, s_field in zip(sealed, ("names", "phone", "dob"), strict=True)
        ] == [None, None, None]
        assert await vault.open(conn, kept, "names", "e-other") == NAME
        row = await conn.fetchrow("SELECT * FROM person_keys WHERE person_id = $1", str(erased))
        assert row["wrapped_key"] is None and row["erased_at"] is not None
        assert (await vault.open(conn, sealed[0], "names", "e-names") or ERASED) == "[erased]"


async def test_erasing_twice_is_harmless_and_says_so(db_pool, vault):
    async with db_pool.acquire() as conn:
        await vault.seal(conn, "p-1", "names", NAME, "e1")
        assert await vault.erase(conn, "p-1") is True
        assert await vault.erase(conn, "p-1") is False


async def test_nothing_can_be_sealed_for_an_erased_person_even_one_who_never_had_a_key(db_pool, vault):
    async with db_pool.acquire() as conn:
        await vault.seal(conn, "p-1", "names", NAME, "e1")
        await vault.erase(conn, "p-1")
        assert await vault.erase(conn, "p-never") is True
        for person in ("p-1", "p-never"):
            with pytest.raises(PersonErasedError) as caught:
                await vault.seal(conn, person, "names", NAME, "e2")
            assert caught.value.field == "person_id" and caught.value.status == 422


async def test_an_erasure_racing_a_first_seal_never_leaves_a_key_behind(db_pool, vault):
    for attempt in range(20):
        person = f"race-{attempt}"

        async def seal_then_commit(person: str) -> None:
            async with db_pool.acquire() as conn, conn.transaction():
                try:
                    await vault.seal(conn, person, "names", NAME, "e1")
                except PersonErasedError:
                    return
                await asyncio.sleep(0.005)

        async def erase(person: str) -> None:
            async with db_pool.acquire() as conn, conn.transaction():
                await vault.erase(conn, person)

        await asyncio.gather(seal_then_commit(person), erase(person))
        async with db_pool.acquire() as conn:
            assert await vault.is_erased(conn, person)
            assert await conn.fetchval("SELECT wrapped_key FROM person_keys WHERE person_id = $1", person) is None


async def test_two_first_seals_of_one_person_at_once_share_one_key(db_pool, vault):
    async def seal(event: str):
        async with db_pool.acquire() as conn, conn.transaction():
            return await vault.seal(conn, "p-twin", "names", NAME, event)

    a, b = await asyncio.gather(seal("e1"), seal("e2"))
    async with db_pool.acquire() as conn:
        assert await vault.open_many(conn, [(a, "names", "e1"), (b, "names", "e2")]) == [NAME, NAME]


async def test_values_stay_readable_after_the_master_key_is_rotated(db_pool, vault):
    async with db_pool.acquire() as conn:
        sealed = {p: await vault.seal(conn, p, "names", f"{NAME} {p}", "e1") for p in ("p-1", "p-2", "p-3")}
        await vault.erase(conn, "p-3")
        new_key = new_master_key()
        async with conn.transaction():
            assert await vault.rotate_master_key(conn, new_key, 2) == 2
        versions = await conn.fetch("SELECT person_id, master_key_version FROM person_keys ORDER BY person_id")
        assert [(r["person_id"], r["master_key_version"]) for r in versions] == [("p-1", 2), ("p-2", 2), ("p-3", None)]
        # A process configured with only the new master key reads every value; the old key can be destroyed.
        rotated_only = PersonalDataVault(new_key, 2)
        assert await rotated_only.open(conn, sealed["p-1"], "names", "e1") == f"{NAME} p-1"
        assert await rotated_only.open(conn, sealed["p-2"], "names", "e1") == f"{NAME} p-2"
        assert await rotated_only.open(conn, sealed["p-3"], "names", "e1") is None
        fresh = await vault.seal(conn, "p-4", "names", NAME, "e1")
        assert await rotated_only.open(conn, fresh, "names", "e1") == NAME


async def test_a_development_master_key_is_made_once_and_kept(tmp_path):
    settings = HarbourSettings(var_dir=tmp_path, master_key=None)
    key = ensure_dev_master_key(settings)
    assert len(base64.b64decode(key)) == 32
    assert ensure_dev_master_key(settings) == key
    assert (tmp_path / "keys" / "master.key").stat().st_mode & 0o777 == 0o600
    assert ensure_dev_master_key(HarbourSettings(var_dir=tmp_path, master_key="configured")) == "configured"
