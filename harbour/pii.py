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
- An erasure is an UPDATE, and PostgreSQL keeps the row version it replaced (the wrapped key) in the table's
  pages; a plain VACUUM marks it free but does not overwrite its bytes. Every transaction that leaves such a
  copy records a purge request (table ``person_key_purges``, same transaction), and
  :func:`purge_dead_key_copies` rewrites the table (``VACUUM FULL``) once no snapshot can still see the copy,
  then marks the requests done. :meth:`PersonalDataVault.erase` starts that purge in the background as soon as
  the erasing transaction ends; ``harbour erase`` and ``harbour keys purge`` wait for it and say so.
- Backups and WAL archives keep the old copies for their retention. Those copies are wrapped by the master key,
  so rotating the master key (``harbour keys rotate``, :func:`rewrap_batch`) and destroying the old master key
  once no backup wrapped by it is kept is what makes erasure reach old backups too (deploy/README.md).
- Each service owns its keys: a `Sealed` value opens only in the service whose database holds that person's key.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict

from harbour.db import Connection
from harbour.devsecrets import dev_secret
from harbour.errors import HarbourError, RuleViolation
from harbour.settings import HarbourSettings

log = logging.getLogger("harbour.pii")

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
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value.strip().encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise PersonalDataError("the master key is not valid base64") from None
    else:
        raw = value
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

        # Background purges of dead key copies, one task per pool at most (see erase and _purge_soon).
        self._pool: asyncpg.Pool | None = None
        self._purges: dict[int, _BackgroundPurge] = {}

    @classmethod
    def from_settings(cls, settings: HarbourSettings) -> PersonalDataVault:
        """The current master key (wraps new keys) and the key ring (only unwraps: the change-over of a rotation)."""
        ring = {version: key.get_secret_value() for version, key in settings.master_key_ring.items()}
        current = ensure_dev_master_key(settings)
        if settings.master_key_version in ring and decode_master_key(ring[settings.master_key_version]) != (
            decode_master_key(current)
        ):
            raise PersonalDataError(
                f"HARBOUR_MASTER_KEY_RING holds another key for the current version {settings.master_key_version}"
            )
        ring.pop(settings.master_key_version, None)
        return cls(current, settings.master_key_version, previous_master_keys=ring)

    def __repr__(self) -> str:  # never show key material
        return f"PersonalDataVault(master_key_version={self._current}, known={sorted(self._master_keys)})"

    @property
    def master_key_version(self) -> int:
        return self._current

    @property
    def master_key_versions(self) -> list[int]:
        """Every master key version this vault can unwrap with (the current one included)."""
        return sorted(self._master_keys)

    def attach(self, pool: asyncpg.Pool) -> None:
        """Purge dead key copies through ``pool`` after erasures (else the erasing connection's own pool)."""
        self._pool = pool

    async def close(self) -> None:
        """Stop the background purges (a pending request stays recorded; the next purge takes it)."""
        purges = list(self._purges.values())
        self._purges.clear()
        for purge in purges:
            await purge.cancel()

    async def wait_for_purges(self) -> None:
        """Wait for the background purges started so far (tests, and a command that exits next)."""
        for purge in list(self._purges.values()):
            await purge.wait()

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

    async def _key_for_sealing(self, conn: Connection, person_id: str) -> tuple[int, bytes]:
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
    async def _key_row(conn: Connection, person_id: str) -> asyncpg.Record | None:
        return await conn.fetchrow(
            "SELECT key_version, wrapped_key, master_key_version, erased_at FROM person_keys WHERE person_id = $1",
            person_id,
        )

    async def _keys_for_opening(
        self, conn: Connection, person_ids: Iterable[str]
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

    async def seal(self, conn: Connection, person_id: UUID | str, field: str, value: str, aad: UUID | str) -> Sealed:
        """Encrypt ``value`` under the person's key (created on first use), bound to ``aad`` and ``field``.

        Raises :class:`PersonErasedError` (422) for an erased person.
        """
        pid = str(person_id)
        key_version, person_key = await self._key_for_sealing(conn, pid)
        return self._seal_with(pid, key_version, person_key, field, value, aad)

    async def seal_fields(
        self,
        conn: Connection,
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

    async def open(self, conn: Connection, sealed: Sealed, field: str, aad: UUID | str) -> str | None:
        """The clear value, or None when the person was erased (show :data:`ERASED`).

        Raises :class:`SealBroken` when the value was altered or is opened as another event's or field's.
        """
        keys = await self._keys_for_opening(conn, [sealed.person_id])
        return self._open_with(keys[sealed.person_id], sealed, field, aad)

    async def open_many(
        self, conn: Connection, items: Sequence[tuple[Sealed | None, str, UUID | str]]
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

    async def erase(self, conn: Connection, person_id: UUID | str) -> bool:
        """Destroy the person's key, leaving a tombstone. True if this call erased them, False if already erased.

        A person with no key yet is erased too (a tombstone alone), so nothing can be sealed for them later.
        The caller records the `PersonErased` event in the same transaction.
        """
        # The upsert takes the person's row lock (or waits on a concurrent first seal's insert), so erasure
        # and key creation for one person are serialised; see _key_for_sealing.
        # The UPDATE leaves the wrapped key in the row version it replaces: the purge request, in the same
        # transaction, is what gets that copy out of the table's pages once this transaction has committed.
        row = await conn.fetchrow(
            """WITH erased AS (
                   INSERT INTO person_keys (person_id, erased_at) VALUES ($1, now())
                   ON CONFLICT (person_id) DO UPDATE
                       SET wrapped_key = NULL, master_key_version = NULL, erased_at = now()
                       WHERE person_keys.erased_at IS NULL
                   RETURNING person_id),
               request AS (
                   INSERT INTO person_key_purges (xid, reason)
                   SELECT pg_current_xact_id(), 'erasure' FROM erased
                   ON CONFLICT (xid) DO NOTHING)
               SELECT pg_current_xact_id() AS xid FROM erased""",
            str(person_id),
        )
        if row is None:
            return False
        self._purge_soon(conn, row["xid"])
        return True

    def _purge_soon(self, conn: Connection, xid: object) -> None:
        """Purge the dead key copies that transaction ``xid`` leaves, in the background, once it has ended.

        The caller is inside that transaction, so the purge cannot run here: a task waits for the transaction to
        end (``pg_xact_status``), then runs :func:`purge_dead_key_copies` on the attached pool or, failing that,
        on the pool the caller's connection came from. Without either (a bare connection) the request stays
        recorded for the next purge.
        """
        pool = self._pool or _pool_of(conn)
        if pool is None or pool.is_closing():
            return
        purge = self._purges.get(id(pool))
        if purge is None or purge.done():
            purge = _BackgroundPurge(pool)
            self._purges[id(pool)] = purge
        purge.add(xid)

    async def is_erased(self, conn: Connection, person_id: UUID | str) -> bool:
        erased_at = await conn.fetchval("SELECT erased_at FROM person_keys WHERE person_id = $1", str(person_id))
        return erased_at is not None

    async def rotate_master_key(self, conn: Connection, new_key: str | bytes, new_version: int) -> int:
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
            await _request_purge(conn, "rotation")
        except BaseException:
            self._current = previous  # nothing was re-wrapped: keep wrapping new keys as before
            raise
        self._purge_soon(conn, await conn.fetchval("SELECT pg_current_xact_id()::text"))
        return len(rewrapped)

    async def rewrap_batch(self, conn: Connection, *, limit: int = 500) -> int:
        """Re-wrap up to ``limit`` live keys that an older master key wraps under the current one. Returns how many.

        One batch per transaction (the caller's), so that a rotation over many persons holds row locks for a
        moment only, lets the services go on sealing and erasing beside it, and can be stopped and started again
        at any point: a row is either still under its old version (the next batch takes it) or already under the
        new one. The caller purges the old copies afterwards (:func:`purge_dead_key_copies`); each batch records
        its purge request.

        Raises :class:`MasterKeyUnavailable` when a row is wrapped by a version this vault was not given.
        """
        if not conn.is_in_transaction():
            raise PersonalDataError("re-wrap person keys inside a transaction")
        # FOR UPDATE: an erasure of one of these persons either commits first (the re-check then drops its row,
        # now a tombstone) or waits for us; a re-wrap can never write back a key an erasure wiped.
        rows = await conn.fetch(
            """SELECT person_id, key_version, wrapped_key, master_key_version FROM person_keys
               WHERE erased_at IS NULL AND master_key_version <> $1
               ORDER BY person_id LIMIT $2 FOR UPDATE""",
            self._current,
            limit,
        )
        if not rows:
            return 0
        rewrapped = [
            (
                row["person_id"],
                self._wrap(
                    row["person_id"],
                    row["key_version"],
                    self._unwrap(row["person_id"], row["key_version"], row["wrapped_key"], row["master_key_version"]),
                ),
                self._current,
            )
            for row in rows
        ]
        await conn.executemany(
            """UPDATE person_keys SET wrapped_key = $2, master_key_version = $3, rewrapped_at = now()
               WHERE person_id = $1 AND erased_at IS NULL""",
            rewrapped,
        )
        await _request_purge(conn, "rotation")
        return len(rewrapped)


# --- dead copies of keys out of the table's pages -------------------------------------------------------------

# How long VACUUM FULL may wait for its exclusive lock on person_keys before it gives up and tries again later.
# While it waits, every seal and open queues behind it: a short wait bounds what a running command can lose.
PURGE_LOCK_TIMEOUT_MS = 250
# How long a background purge keeps trying (an old snapshot holding the copies, a busy table) before it leaves
# the request to the next purge; how long it waits for the erasing transaction itself to end.
_BACKGROUND_PURGE_SECONDS = 600.0
_KEPT_DEAD = re.compile(r"(\d+) dead row versions cannot be removed yet")


@dataclass(frozen=True)
class PurgeOutcome:
    """What a purge achieved: requests now done, requests still pending, and what held the pending ones back."""

    purged: int
    pending: int
    rewrites: int
    held_back_by: str | None = None


@dataclass(frozen=True)
class KeyTableStatus:
    """The keys table at a glance, for operators: live keys per master key version, tombstones, pending purges."""

    live_by_master_version: dict[int, int]
    erased: int
    pending_purges: int


async def key_table_status(conn: Connection) -> KeyTableStatus:
    rows = await conn.fetch(
        """SELECT master_key_version, count(*) AS n FROM person_keys WHERE erased_at IS NULL
           GROUP BY master_key_version ORDER BY master_key_version"""
    )
    erased = await conn.fetchval("SELECT count(*) FROM person_keys WHERE erased_at IS NOT NULL")
    pending = await conn.fetchval("SELECT count(*) FROM person_key_purges WHERE purged_at IS NULL")
    return KeyTableStatus({row["master_key_version"]: row["n"] for row in rows}, erased, pending)


async def _request_purge(conn: Connection, reason: str) -> None:
    await conn.execute(
        "INSERT INTO person_key_purges (xid, reason) VALUES (pg_current_xact_id(), $1) ON CONFLICT (xid) DO NOTHING",
        reason,
    )


async def _held_back_by(conn: Connection, xid: str) -> str | None:
    """Why the row versions transaction ``xid`` killed may still be visible to someone, or None when none can.

    VACUUM FULL copies a dead row version, wrapped key and all, into the new table while any snapshot might still
    see it: i.e. while VACUUM's own horizon is not past the transaction that killed it. That horizon is the
    oldest of: every running transaction's xid in any database (VACUUM's own snapshot starts at the oldest of
    them), every snapshot of this database, replication slots, and vacuum_defer_cleanup_age before PostgreSQL 16.
    """
    row = await conn.fetchrow(
        """SELECT
               pg_snapshot_xmin(pg_current_snapshot()) <= $1::text::xid8 AS running,
               (SELECT count(*) FROM pg_stat_activity
                 WHERE pid <> pg_backend_pid() AND backend_xmin IS NOT NULL
                   AND (datname = current_database() OR backend_type = 'walsender')
                   AND age(backend_xmin) >= age($1::text::xid8::xid)) AS snapshots,
               (SELECT count(*) FROM pg_replication_slots
                 WHERE xmin IS NOT NULL AND age(xmin) >= age($1::text::xid8::xid)) AS slots,
               age($1::text::xid8::xid)
                   <= coalesce(nullif(current_setting('vacuum_defer_cleanup_age', true), '')::int, 0) AS deferred""",
        xid,
    )
    assert row is not None  # an aggregate-free SELECT always returns its one row
    # Every reason that holds, not the first: on a shared server some other database's transaction is often
    # running too, and an operator told only that would not look for the report holding its snapshot here.
    reasons = []
    if row["running"]:
        reasons.append("a transaction older than the erasure is still running")
    if row["snapshots"]:
        reasons.append(f"{row['snapshots']} session(s) of this database hold a snapshot older than the erasure")
    if row["slots"]:
        reasons.append("a replication slot holds back the horizon")
    if row["deferred"]:
        reasons.append("vacuum_defer_cleanup_age holds back the horizon")
    return "; ".join(reasons) or None


async def _rewrite_key_table(conn: Connection, lock_timeout_ms: int) -> int | None:
    """VACUUM FULL person_keys (new pages, the indexes and the TOAST table rebuilt); returns the dead row versions
    it had to keep, from its VERBOSE report, or None when the server reports in a language we do not parse."""
    notices: list[asyncpg.PostgresLogMessage] = []

    def listener(_conn: Connection, message: asyncpg.PostgresLogMessage) -> None:
        notices.append(message)

    conn.add_log_listener(listener)
    try:
        # SET, not SET LOCAL: VACUUM cannot run inside a transaction block. The pool's reset clears it too.
        await conn.execute(f"SET lock_timeout = '{int(lock_timeout_ms)}ms'")
        try:
            await conn.execute("VACUUM (FULL, VERBOSE) person_keys")
        finally:
            await conn.execute("RESET lock_timeout")
        await asyncio.sleep(0)  # asyncpg hands notices to listeners with call_soon
    finally:
        conn.remove_log_listener(listener)
    counts = [int(m.group(1)) for n in notices if (m := _KEPT_DEAD.search(getattr(n, "detail", None) or ""))]
    return sum(counts) if counts else None


async def purge_dead_key_copies(
    pool: asyncpg.Pool, *, wait_seconds: float = 30.0, lock_timeout_ms: int = PURGE_LOCK_TIMEOUT_MS
) -> PurgeOutcome:
    """Rewrite person_keys so that no dead copy of an erased or re-wrapped key is left in its pages.

    Takes every pending purge request (erasures, re-wrap batches). Waits, up to ``wait_seconds``, until no snapshot
    can see the row versions they killed, then runs VACUUM FULL with a short lock timeout (retried: it never
    holds up the services' commands for long, and never deadlocks with them), checks in VACUUM's own report that
    it kept no dead row version, and only then marks the requests purged. Returns what it achieved; pending
    requests stay recorded for the next purge.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    purged = rewrites = 0
    reason: str | None = None
    delay = 0.02
    while True:
        async with pool.acquire() as conn:
            target = await conn.fetchval("SELECT max(xid)::text FROM person_key_purges WHERE purged_at IS NULL")
            if target is None:
                return PurgeOutcome(purged, 0, rewrites)
            reason = await _held_back_by(conn, target)
            if reason is None:
                try:
                    kept = await _rewrite_key_table(conn, lock_timeout_ms)
                except (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError, asyncpg.QueryCanceledError):
                    reason = "the keys table was busy (lock timeout)"
                else:
                    rewrites += 1
                    if kept:
                        reason = f"VACUUM FULL kept {kept} dead row version(s) still visible to a snapshot"
                    else:
                        # Every request up to the target: one that committed late with a lower xid had ended
                        # before the horizon check passed, so its copies were dead to this rewrite too.
                        done = await conn.execute(
                            """UPDATE person_key_purges SET purged_at = now()
                               WHERE purged_at IS NULL AND xid <= $1::text::xid8""",
                            target,
                        )
                        purged += int(done.split()[-1])
                        delay = 0.02
                        continue
            if loop.time() >= deadline:
                pending = await conn.fetchval("SELECT count(*) FROM person_key_purges WHERE purged_at IS NULL")
                return PurgeOutcome(purged, pending, rewrites, reason)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


def _pool_of(conn: Connection) -> asyncpg.Pool | None:
    """The pool a connection was acquired from, if it was.

    asyncpg hands out ``PoolConnectionProxy`` objects whose holder knows their pool. Not a public attribute, but
    it lets ``erase(conn)`` start the purge in every service without each caller passing its pool; the erasure
    tests (tests/integration/test_erasure_pages.py) fail if an asyncpg upgrade moves it.
    """
    pool = getattr(getattr(conn, "_holder", None), "_pool", None)
    return pool if isinstance(pool, asyncpg.Pool) else None


class _BackgroundPurge:
    """One pool's purge: waits for the transactions that asked for it to end, then purges, until none is left."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._xids: set[int] = set()
        self._task: asyncio.Task[None] | None = None

    def add(self, xid: object) -> None:
        self._xids.add(int(str(xid)))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="harbour.pii.purge")

    def done(self) -> bool:
        return self._task is None or self._task.done()

    async def wait(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.wait()

    async def _run(self) -> None:
        while self._xids and not self.pool.is_closing():
            xids = sorted(self._xids)
            self._xids.clear()
            try:
                await self._until_ended(xids)
                outcome = await purge_dead_key_copies(self.pool, wait_seconds=_BACKGROUND_PURGE_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the pool closed, the database went away: the requests stay recorded
                log.warning("person key purge stopped (%s); its requests stay pending", type(exc).__name__)
                return
            if outcome.pending:
                log.warning("person key purge: %d request(s) still pending: %s", outcome.pending, outcome.held_back_by)
            else:
                log.info("person key purge: %d request(s) done, %d rewrite(s)", outcome.purged, outcome.rewrites)

    async def _until_ended(self, xids: list[int]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _BACKGROUND_PURGE_SECONDS
        delay = 0.005
        while loop.time() < deadline:
            async with self.pool.acquire() as conn:
                running = await conn.fetchval(
                    "SELECT count(*) FROM unnest($1::text[]) AS x WHERE pg_xact_status(x::xid8) = 'in progress'",
                    [str(x) for x in xids],
                )
            if not running:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
