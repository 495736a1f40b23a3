"""Look for a person's data everywhere intake keeps or sends it: the raw event table, the read models, the topic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from aiokafka import ConsumerRecord

from harbour.pii import PersonalDataVault, Sealed
from tests.support.kafka import headers_of, read_topic

INTAKE_TOPIC = "intake.events.v1"
READ_MODEL_TABLES = ("referral_status", "centre_cases", "persons", "person_fields", "idempotent_commands",
                     "personal_data_reads")  # fmt: skip
_SEALED_KEYS = {"person_id", "key_version", "nonce", "ciphertext"}


def sealed_values(payload: Any, path: str = "") -> Iterator[tuple[str, Sealed]]:
    """Every sealed value in a JSON document, with its field name (the last key: part of its associated data)."""
    if isinstance(payload, dict):
        if set(payload) == _SEALED_KEYS:
            yield path.rpartition(".")[2], Sealed.model_validate(payload)
            return
        for key, value in payload.items():
            yield from sealed_values(value, f"{path}.{key}")
    elif isinstance(payload, list):
        for value in payload:
            yield from sealed_values(value, path)


async def raw_event_rows(conn: Any) -> list[str]:
    """Every row of the event store, every column, as text."""
    return [r["row"] for r in await conn.fetch("SELECT e::text AS row FROM events e ORDER BY global_position")]


async def read_model_rows(conn: Any) -> list[str]:
    rows: list[str] = []
    for table in READ_MODEL_TABLES:
        rows += [r["row"] for r in await conn.fetch(f"SELECT t::text AS row FROM {table} t")]
    return rows


async def topic_records(bootstrap: str) -> list[ConsumerRecord]:
    return await read_topic(bootstrap, INTAKE_TOPIC)


def record_text(record: ConsumerRecord) -> str:
    return (record.key or b"").decode() + (record.value or b"").decode() + json.dumps(headers_of(record))


async def open_stored(conn: Any, vault: PersonalDataVault, person_id: str) -> list[str | None]:
    """Open every sealed value of ``person_id`` in the event store (aad: the carrying event's id)."""
    opened = []
    for row in await conn.fetch("SELECT event_id, payload::text AS payload FROM events ORDER BY global_position"):
        for field, sealed in sealed_values(json.loads(row["payload"])):
            if sealed.person_id == person_id:
                opened.append(await vault.open(conn, sealed, field, row["event_id"]))
    return opened


async def open_read_models(conn: Any, vault: PersonalDataVault, person_id: str) -> list[str | None]:
    rows = await conn.fetch("SELECT field, sealed::text AS sealed, event_id FROM person_fields WHERE person_id = $1",
                            person_id)  # fmt: skip
    return [await vault.open(conn, Sealed.model_validate_json(r["sealed"]), r["field"], r["event_id"]) for r in rows]


async def open_published(conn: Any, vault: PersonalDataVault, records: list[ConsumerRecord],
                         person_id: str) -> list[str | None]:  # fmt: skip
    opened = []
    for record in records:
        event_id = UUID(headers_of(record)["event_id"])
        for field, sealed in sealed_values(json.loads(record.value)):
            if sealed.person_id == person_id:
                opened.append(await vault.open(conn, sealed, field, event_id))
    return opened
