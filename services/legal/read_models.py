"""Reads of legal's own read-model tables (SQL only), shared by the API and the service's gauges."""

from __future__ import annotations

from datetime import date
from typing import Any

from schemas.legal import ResidenceDocument
from services.legal.rules import StayPeriod


async def stay_history(conn: Any, case_id: str) -> tuple[list[StayPeriod], bool, date | None]:
    """The case's validity periods in order, whether its residence procedure is open, and the day it ended."""
    rows = await conn.fetch(
        """SELECT document, decided_on, starts_on, ends_on, renewal_number, until FROM legal_stay_periods
           WHERE case_id = $1 ORDER BY seq""",
        case_id,
    )
    status = await conn.fetchrow("SELECT ended_on FROM legal_residence_status WHERE case_id = $1", case_id)
    history = [StayPeriod(ResidenceDocument(r["document"]), r["decided_on"], r["starts_on"], r["ends_on"],
                          r["renewal_number"], r["until"]) for r in rows]  # fmt: skip
    return history, status is not None, None if status is None else status["ended_on"]


async def count_without_valid_stay(conn: Any, today: date) -> int:
    """Cases whose procedure runs (not ended, not an EU citizen) with no period covering ``today``."""
    return int(
        await conn.fetchval(
            """SELECT count(*) FROM legal_residence_status s
               WHERE s.ended_on IS NULL AND NOT s.eu_citizen
                 AND NOT EXISTS (SELECT 1 FROM legal_stay_periods p WHERE p.case_id = s.case_id
                                 AND p.starts_on <= $1 AND (p.until IS NULL OR p.until >= $1))""",
            today,
        )
    )
