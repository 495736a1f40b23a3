"""The fact table's SQL (migrations/0001): read and write a case's row by its internal key."""

from __future__ import annotations

import base64
import json
from typing import Any

from harbour.devsecrets import dev_secret
from harbour.settings import HarbourSettings
from services.statistics.facts import Fact, fact_key


def secret(settings: HarbourSettings) -> bytes:
    """HARBOUR_STATISTICS_FACT_KEY, or for development one kept in ``<var_dir>/keys/statistics-fact.key``."""
    text = (settings.statistics_fact_key.get_secret_value() if settings.statistics_fact_key
            else dev_secret(settings.keys_dir / "statistics-fact.key"))  # fmt: skip
    raw = base64.b64decode(text.strip().encode("ascii"), validate=True)
    if len(raw) != 32:
        raise ValueError("the statistics fact key must be 32 bytes of base64")
    return raw


async def load(conn: Any, key: bytes) -> Fact:
    row = await conn.fetchval("SELECT fact FROM statistics_facts WHERE fact_key = $1 FOR UPDATE", key)
    return Fact.from_json(json.loads(row)) if row is not None else Fact()


async def save(conn: Any, key: bytes, fact: Fact) -> None:
    await conn.execute(
        """INSERT INTO statistics_facts (fact_key, fact, year, revision)
           VALUES ($1, $2::jsonb, $3, nextval('statistics_fact_revision'))
           ON CONFLICT (fact_key) DO UPDATE SET fact = EXCLUDED.fact, year = EXCLUDED.year,
                                               revision = EXCLUDED.revision""",
        key, json.dumps(fact.to_json()), fact.year,
    )  # fmt: skip


async def record(conn: Any, settings_secret: bytes, case_id: str, fold: Any) -> None:
    """Fold one event into the case's row (``fold(fact) -> fact``); the case id goes no further than the HMAC."""
    key = fact_key(settings_secret, case_id)
    # One case's events arrive on several topics, folded by several consumers at once. ``FOR UPDATE`` locks no
    # row that does not exist yet: two first events of a case both read an empty fact and the second upsert wiped
    # the first's (a CaseOpened lost to a ReflectionPeriodStarted, the case never counted). The key's own lock,
    # for the transaction, makes the folds of one case take turns.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('statistics-fact:' || encode($1, 'hex'), 0))",
                       key)  # fmt: skip
    before = await load(conn, key)
    after = fold(before)
    if after != before:
        await save(conn, key, after)


async def facts_of(conn: Any, period: int) -> tuple[list[Fact], int]:
    """Every counted fact of ``period`` and the table's revision they were read at (the caller's transaction)."""
    rows = await conn.fetch("SELECT fact FROM statistics_facts WHERE year = $1", period)
    revision = await conn.fetchval("SELECT coalesce(max(revision), 0) FROM statistics_facts")
    return [Fact.from_json(json.loads(r["fact"])) for r in rows], int(revision)
