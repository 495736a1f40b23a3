"""Personal data sealed field by field with a key per person (crypto-shredding).

`Sealed` is what events, projections and Kafka payloads carry instead of clear personal data.

The :class:`PersonalDataVault` keeps one 256-bit AES-GCM key per person in the service's own database
(table ``person_keys``), wrapped by the service's master key. Erasing a person wipes that key: every `Sealed`
value of that person, wherever a copy of it travelled (event store, projections, Kafka, backups of those),
becomes unreadable at once, while the non-identifying facts around it stay.

A sealed value is bound to its place: the associated data is ``f"{aad}:{field}"`` (the aad is normally the id
of the event that carries the value), so a value copied into another event or another field does not open.

Values never appear in logs, exceptions or reprs of this module; only person ids (pseudonymous) do.

Operational notes, because crypto-shredding is only as good as its weakest copy:
- PostgreSQL keeps the old row version of an erased key until VACUUM, and backups / WAL archives keep it for
  their retention. Those copies are wrapped by the master key, so rotating the master key
  (:meth:`PersonalDataVault.rotate_master_key`) and then destroying the old master key is what makes erasure
  reach old backups too.
- Each service owns its keys: a `Sealed` value opens only in the service whose database holds that person's key.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict

from harbour.devsecrets import dev_secret
from harbour.errors import HarbourError, RuleViolation

if TYPE_CHECKING:
    import asyncpg

from harbour.settings import HarbourSettings

# What a screen or export shows in place of a value whose person was erased.
ERASED = "[erased]"

_KEY_BYTES = 32  # AES-256, for person keys and the master key alike
_NONCE_BYTES = 12  # the AES-GCM standard nonce; random per seal (fine far below 2**32 seals per person key)
_PERSON_KEY_VERSION = 1  # one key per person for now; the column and `Sealed.key_version` leave room for more


class Sealed(BaseModel):
    """One encrypted value: AES-GCM under the person's own key, the event id and field name as associated data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    person_id: str
    key_version: int
    nonce: str
    ciphertext: str


class PersonalDataError(HarbourError):
    """The vault cannot do what was asked for a reason that is not the caller's input (a bug or a config error)."""

    status = 500
    title = "Personal data cannot be processed"
    type_slug = "personal-data"


class SealBroken(PersonalDataError):
    """A sealed value does not open under its person's key: tampered, or moved to another event or field."""


class PersonErasedError(RuleViolation):
    """New personal data was offered for a person who has been erased: it must not be recorded again."""


class MasterKeyUnavailable(PersonalDataError):
    """A person key is wrapped by a master key version this process was not given."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise SealBroken(f"the sealed value's {what} is not base64") from None


def decode_master_key(value: str | bytes) -> bytes:
    """A master key from its base64 text (as in settings), or raw 32 bytes; refuses anything else."""
    raw = value
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value.strip().encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise PersonalDataError("the master key is not valid base64") from None
    if len(raw) != _KEY_BYTES:
        raise PersonalDataError(f"the master key must be {_KEY_BYTES} bytes, not {len(raw)}")
    return bytes(raw)


def new_master_key() -> str:
    """A fresh random master key, base64 (the form `HARBOUR_MASTER_KEY` takes)."""
    return _b64(secrets.token_bytes(_KEY_BYTES))


def ensure_dev_master_key(settings: HarbourSettings) -> str:
    """The configured master key, or for development one kept in ``<var_dir>/keys/master.key`` (made when absent).

    Production configures ``HARBOUR_MASTER_KEY`` from a secret store; this file exists so a laptop run works.
    """
    if settings.master_key:
        return settings.master_key
    return dev_secret(settings.keys_dir / "master.key", size=_KEY_BYTES)


def _person_key_aad(person_id: str, key_version: int) -> bytes:
    # Binds a wrapped key to its row: swapping two persons' wrapped keys in the table makes both fail to open.
    return f"harbour.person-key:{person_id}:{key_version}".encode()


def _value_aad(aad: UUID | str, field: str) -> bytes:
    return f"{aad}:{field}".encode()


class PersonalDataVault:
    """Seals and opens personal data with a key per person; erases a person by destroying that key.

    Every method takes the caller's connection, so keys are created, read and destroyed inside the caller's
    transaction: an event sealed for a new person commits together with that person's key, or not at all.
    """

    def __init__(
        self,
        master_key: str | bytes,
        master_key_version: int = 1,
        *,
        previous_master_keys: Mapping[int, str | bytes] | None = None,
    ) -> None:
        self._master_keys: dict[int, bytes] = {
            version: decode_master_key(key) for version, key in (previous_master_keys or {}).items()
        }
        self._master_keys[master_key_version] = decode_master_key(master_key)
        self._current = master_key_version

    @classmethod
    def from_settings(cls, settings: HarbourSettings) -> PersonalDataVault:
        return cls(ensure_dev_master_key(settings), settings.master_key_version)

    def __repr__(self) -> str:  # never show key material
        return f"PersonalDataVault(master_key_version={self._current})"

    @property
    def master_key_version(self) -> int:
        return self._current

    # --- keys ------------------------------------------------------------------------------------------

    def _wrap(self, person_id: str, key_version: int, person_key: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        master = AESGCM(self._master_keys[self._current])
        return nonce + master.encrypt(nonce, person_key, _person_key_aad(person_id, key_version))

    def _unwrap(self, person_id: str, key_version: int, wrapped: bytes, master_version: int) -> bytes:
        master_key = self._master_keys.get(master_version)
        if master_key is None:
            raise MasterKeyUnavailable(
                f"the key of person {person_id} is wrapped by master key version {master_version}, "
                f"which this process does not have (it has {sorted(self._master_keys)})"
            )
        try:
            return AESGCM(master_key).decrypt(
                wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], _person_key_aad(person_id, key_version)
            )
        except InvalidTag:
            raise PersonalDataError(f"the stored key of person {person_id} does not unwrap") from None

    async def _key_for_sealing(self, conn: asyncpg.Connection, person_id: str) -> tuple[int, bytes]:
        row = await self._key_row(conn, person_id)
        if row is None:
            person_key = secrets.token_bytes(_KEY_BYTES)
            # ON CONFLICT DO NOTHING: if another transaction is creating (or erasing) this person's row right
            # now, the insert waits on that row's unique-index entry until the other commits, then does
            # nothing, and the SELECT below sees the winner's row. Two first seals thus share one key, and a
            # seal racing an erasure either precedes it (its key is then wiped) or sees the tombstone.
            await conn.execute(
                """INSERT INTO person_keys (person_id, key_version, wrapped_key, master_key_version)
                   VALUES ($1, $2, $3, $4) ON CONFLICT (person_id) DO NOTHING""",
                person_id,
                _PERSON_KEY_VERSION,
                self._wrap(person_id, _PERSON_KEY_VERSION, person_key),
                self._current,
            )
            row = await self._key_row(conn, person_id)
        if row is None:  # only under REPEATABLE READ / SERIALIZABLE, where the winner's row is not in our snapshot
            raise PersonalDataError(f"the key of person {person_id} was created concurrently; retry")
        if row["erased_at"] is not None:
            raise PersonErasedError(
                f"person {person_id} was erased: no personal data can be recorded for them again",
                field="person_id",
            )
        return row["key_version"], self._unwrap(
            person_id, row["key_version"], row["wrapped_key"], row["master_key_version"]
        )

    @staticmethod
    async def _key_row(conn: asyncpg.Connection, person_id: str) -> asyncpg.Record | None:
        return await conn.fetchrow(
            "SELECT key_version, wrapped_key, master_key_version, erased_at FROM person_keys WHERE person_id = $1",
            person_id,
        )

    async def _keys_for_opening(
        self, conn: asyncpg.Connection, person_ids: Iterable[str]
    ) -> dict[str, tuple[int, bytes] | None]:
        """Each person's (key version, key), or None for an erased person. A person with no row is an error."""
        wanted = sorted(set(person_ids))
        rows = await conn.fetch(
            """SELECT person_id, key_version, wrapped_key, master_key_version, erased_at
               FROM person_keys WHERE person_id = ANY($1::text[])""",
            wanted,
        )
        keys: dict[str, tuple[int, bytes] | None] = {}
        for row in rows:
            pid = row["person_id"]
            if row["erased_at"] is not None:
                keys[pid] = None
            else:
                keys[pid] = (
                    row["key_version"],
                    self._unwrap(pid, row["key_version"], row["wrapped_key"], row["master_key_version"]),
                )
        missing = [pid for pid in wanted if pid not in keys]
        if missing:
            # Not "erased": erasure leaves a tombstone. A value whose key never existed here was sealed by
            # another service (each owns its keys) or the key table was lost; saying "erased" would hide it.
            raise PersonalDataError(f"no key is known for person(s) {', '.join(missing)} in this service")
        return keys

    # --- the API ---------------------------------------------------------------------------------------

    async def seal(
        self, conn: asyncpg.Connection, person_id: UUID | str, field: str, value: str, aad: UUID | str
    ) -> Sealed:
        """Encrypt ``value`` under the person's key (created on first use), bound to ``aad`` and ``field``.

        Raises :class:`PersonErasedError` (422) for an erased person.
        """
        pid = str(person_id)
        key_version, person_key = await self._key_for_sealing(conn, pid)
        return self._seal_with(pid, key_version, person_key, field, value, aad)

    async def seal_fields(
        self,
        conn: asyncpg.Connection,
        person_id: UUID | str,
        fields: Mapping[str, str | None],
        aad: UUID | str,
    ) -> dict[str, Sealed | None]:
        """Seal several fields of one person for one event with a single key look-up; None stays None."""
        pid = str(person_id)
        key_version, person_key = await self._key_for_sealing(conn, pid)
        return {
            name: None if value is None else self._seal_with(pid, key_version, person_key, name, value, aad)
            for name, value in fields.items()
        }

    @staticmethod
    def _seal_with(
        person_id: str, key_version: int, person_key: bytes, field: str, value: str, aad: UUID | str
    ) -> Sealed:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        ciphertext = AESGCM(person_key).encrypt(nonce, value.encode("utf-8"), _value_aad(aad, field))
        return Sealed(person_id=person_id, key_version=key_version, nonce=_b64(nonce), ciphertext=_b64(ciphertext))

    async def open(self, conn: asyncpg.Connection, sealed: Sealed, field: str, aad: UUID | str) -> str | None:
        """The clear value, or None when the person was erased (show :data:`ERASED`).

        Raises :class:`SealBroken` when the value was altered or is opened as another event's or field's.
        """
        keys = await self._keys_for_opening(conn, [sealed.person_id])
        return self._open_with(keys[sealed.person_id], sealed, field, aad)

    async def open_many(
        self, conn: asyncpg.Connection, items: Sequence[tuple[Sealed | None, str, UUID | str]]
    ) -> list[str | None]:
        """Open many ``(sealed, field, aad)`` at once (one key query for all persons); None in, None out."""
        present = [sealed.person_id for sealed, _, _ in items if sealed is not None]
        keys = await self._keys_for_opening(conn, present) if present else {}
        return [
            None if sealed is None else self._open_with(keys[sealed.person_id], sealed, field, aad)
            for sealed, field, aad in items
        ]

    @staticmethod
    def _open_with(key: tuple[int, bytes] | None, sealed: Sealed, field: str, aad: UUID | str) -> str | None:
        if key is None:
            return None
        key_version, person_key = key
        if sealed.key_version != key_version:
            raise SealBroken(
                f"value of person {sealed.person_id} names key version {sealed.key_version}, "
                f"the stored key is version {key_version}"
            )
        nonce = _unb64(sealed.nonce, "nonce")
        ciphertext = _unb64(sealed.ciphertext, "ciphertext")
        try:
            clear = AESGCM(person_key).decrypt(nonce, ciphertext, _value_aad(aad, field))
        except (InvalidTag, ValueError):
            raise SealBroken(
                f"a sealed {field!r} of person {sealed.person_id} does not open for {aad}: "
                "altered, or moved from another event or field"
            ) from None
        return clear.decode("utf-8")

    async def erase(self, conn: asyncpg.Connection, person_id: UUID | str) -> bool:
        """Destroy the person's key, leaving a tombstone. True if this call erased them, False if already erased.

        A person with no key yet is erased too (a tombstone alone), so nothing can be sealed for them later.
        The caller records the `PersonErased` event in the same transaction.
        """
        # The upsert takes the person's row lock (or waits on a concurrent first seal's insert), so erasure
        # and key creation for one person are serialised; see _key_for_sealing.
        row = await conn.fetchrow(
            """INSERT INTO person_keys (person_id, erased_at) VALUES ($1, now())
               ON CONFLICT (person_id) DO UPDATE
                   SET wrapped_key = NULL, master_key_version = NULL, erased_at = now()
                   WHERE person_keys.erased_at IS NULL
               RETURNING person_id""",
            str(person_id),
        )
        return row is not None

    async def is_erased(self, conn: asyncpg.Connection, person_id: UUID | str) -> bool:
        erased_at = await conn.fetchval("SELECT erased_at FROM person_keys WHERE person_id = $1", str(person_id))
        return erased_at is not None

    async def rotate_master_key(self, conn: asyncpg.Connection, new_key: str | bytes, new_version: int) -> int:
        """Re-wrap every live person key under ``new_key`` (version ``new_version``). Returns how many.

        Run it in a transaction. Afterwards this vault wraps new keys with the new master key and still opens
        rows wrapped by the old one (run it again to catch rows another process wrapped meanwhile); configure
        every process with the new key and version before destroying the old key.
        """
        new_raw = decode_master_key(new_key)
        known = self._master_keys.get(new_version)
        if known is not None and known != new_raw:
            raise PersonalDataError(f"master key version {new_version} is already a different key")
        if not conn.is_in_transaction():
            raise PersonalDataError("rotate the master key inside a transaction")
        # SHARE ROW EXCLUSIVE blocks inserts, updates and deletes (new keys, erasures) until we commit, while
        # reads (opening values) go on: no key can be created under the old master key between our SELECT and
        # our commit, and no erasure can be undone by our UPDATE writing back a key it wiped.
        await conn.execute("LOCK TABLE person_keys IN SHARE ROW EXCLUSIVE MODE")
        rows = await conn.fetch(
            """SELECT person_id, key_version, wrapped_key, master_key_version FROM person_keys
               WHERE erased_at IS NULL AND master_key_version <> $1""",
            new_version,
        )
        self._master_keys[new_version] = new_raw
        previous = self._current
        self._current = new_version
        try:
            rewrapped = [
                (
                    row["person_id"],
                    self._wrap(
                        row["person_id"],
                        row["key_version"],
                        self._unwrap(
                            row["person_id"], row["key_version"], row["wrapped_key"], row["master_key_version"]
                        ),
                    ),
                )
                for row in rows
            ]
            await conn.executemany(
                """UPDATE person_keys SET wrapped_key = $2, master_key_version = $3, rewrapped_at = now()
                   WHERE person_id = $1""",
                [(pid, wrapped, new_version) for pid, wrapped in rewrapped],
            )
        except BaseException:
            self._current = previous  # nothing was re-wrapped: keep wrapping new keys as before
            raise
        return len(rewrapped)
