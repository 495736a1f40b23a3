"""What the person_keys table's pages hold, byte for byte: for proving that an erased (or re-wrapped) key is gone.

``pageinspect``'s ``get_raw_page`` reads every block of every fork of the table, of its TOAST table and TOAST
index, and of its indexes, as PostgreSQL has them (shared buffers or disk), dead row versions and free space
included. Nothing here goes through SQL visibility, so nothing is hidden the way a SELECT hides dead rows.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from harbour.pii import decode_master_key

_WRAPPED_LEN = 12 + 32 + 16  # nonce, AES-256 key, GCM tag


async def key_table_relations(conn) -> list[str]:
    """person_keys, its TOAST table, and every index of either."""
    await conn.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
    return await conn.fetchval(
        """WITH rels AS (
               SELECT 'person_keys'::regclass::oid AS oid
               UNION ALL SELECT reltoastrelid FROM pg_class WHERE oid = 'person_keys'::regclass AND reltoastrelid <> 0)
           SELECT array_agg(oid::regclass::text ORDER BY oid) FROM (
               SELECT oid FROM rels UNION SELECT indexrelid FROM pg_index WHERE indrelid IN (SELECT oid FROM rels)) r"""
    )


async def raw_pages(conn) -> list[bytes]:
    """Every block of every fork (main, free space map, visibility map) of those relations."""
    pages: list[bytes] = []
    for relation in await key_table_relations(conn):
        for fork in ("main", "fsm", "vm"):
            size = await conn.fetchval("SELECT pg_relation_size($1::regclass, $2)", relation, fork)
            for block in range(size // 8192):
                pages.append(await conn.fetchval("SELECT get_raw_page($1, $2, $3)", relation, fork, block))
    return pages


def occurrences(pages: list[bytes], needle: bytes) -> int:
    return sum(page.count(needle) for page in pages)


def unwrap_from_pages(pages: list[bytes], master_key: str, person_id: str, key_version: int = 1) -> set[bytes]:
    """Every person key that the master key opens from any 60 bytes anywhere in the pages, for that person.

    Not only where a tuple is expected: at every byte offset, so that a copy in free space, in a dead tuple or in
    a half-overwritten line counts too.
    """
    master = AESGCM(decode_master_key(master_key))
    aad = f"harbour.person-key:{person_id}:{key_version}".encode()
    found: set[bytes] = set()
    for page in pages:
        for offset in range(len(page) - _WRAPPED_LEN + 1):
            window = page[offset : offset + _WRAPPED_LEN]
            try:
                found.add(master.decrypt(window[:12], window[12:], aad))
            except InvalidTag:
                continue
    return found


def open_with(person_key: bytes, sealed, field: str, aad: str) -> str | None:
    """A sealed value opened with a person key recovered from the pages (None when it does not open)."""
    import base64

    try:
        clear = AESGCM(person_key).decrypt(
            base64.b64decode(sealed.nonce), base64.b64decode(sealed.ciphertext), f"{aad}:{field}".encode()
        )
    except InvalidTag:
        return None
    return clear.decode()
