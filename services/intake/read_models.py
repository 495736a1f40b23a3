"""Reads of intake's own read-model tables (SQL only: the API turns the rows into its views, api/models.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from harbour import custody
from harbour.custody import Custody, Period

MAX_PAGE = 200


async def referral_row(conn: Any, referral_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM referral_status WHERE referral_id = $1", referral_id)


async def case_row(conn: Any, case_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM centre_cases WHERE case_id = $1", case_id)


async def case_custody(conn: Any, case: asyncpg.Record) -> Custody:
    """Who holds the case ``case`` (a centre_cases row). A case admitted before custody was recorded (and not
    yet moved by the data step of migration 0003) is held by the centre that admitted it."""
    # Inside a transaction the caller may act on what it reads: hold custody until it commits (harbour.custody).
    found = await custody.load(conn, case["case_id"], acting=conn.is_in_transaction())
    if found is not None:
        return found
    since = datetime.combine(case["opened_on"], datetime.min.time(), tzinfo=UTC)
    return Custody(case["case_id"], (Period(case["centre"], 0, case["opened_on"], since),))


async def case_page(conn: Any, centre: str, after: int, limit: int) -> list[asyncpg.Record]:
    """The cases ``centre`` holds now: those it admitted and kept, and those transferred to it."""
    return await conn.fetch(
        """SELECT c.* FROM centre_cases c
           LEFT JOIN LATERAL (SELECT k.centre FROM case_custody k WHERE k.case_id = c.case_id
                              ORDER BY k.seq DESC LIMIT 1) held ON true
           WHERE COALESCE(held.centre, c.centre) = $1 AND c.position > $2 ORDER BY c.position LIMIT $3""",
        centre, after, max(1, min(limit, MAX_PAGE)),
    )  # fmt: skip


async def person_row(conn: Any, person_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM persons WHERE person_id = $1", person_id)


async def person_fields(conn: Any, person_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT field, sealed::text AS sealed, event_id FROM person_fields WHERE person_id = $1 ORDER BY field",
        person_id,
    )


async def lead_row(conn: Any, lead_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM leads WHERE lead_id = $1", lead_id)


async def lead_page(conn: Any, centre: str, status: str | None, after: int, limit: int) -> list[asyncpg.Record]:
    """The leads of ``centre`` (of one status, or all) in the order they arrived."""
    return await conn.fetch(
        """SELECT * FROM leads WHERE centre = $1 AND ($2::text IS NULL OR status = $2) AND position > $3
           ORDER BY position LIMIT $4""",
        centre, status, after, max(1, min(limit, MAX_PAGE)),
    )  # fmt: skip
