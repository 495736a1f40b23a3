"""The personal-data read audit: who read which person's data, what of it, when, and why.

Every response that reveals personal data calls :func:`record_read` on the connection (and in the transaction)
that read the data, so a read that is served is always a read that is recorded. The purpose comes from the
``Harbour-Purpose`` request header, required through the :func:`read_purpose` dependency.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

from fastapi import Header
from pydantic import BaseModel, ConfigDict, Field

from harbour.db import Connection
from harbour.errors import RuleViolation
from harbour.http.pages import cursor, integer, read_cursor

if TYPE_CHECKING:
    pass

PURPOSE_HEADER = "Harbour-Purpose"
MAX_PURPOSE_LENGTH = 200
MAX_PAGE = 500


class PersonalDataRead(BaseModel):
    """One audited read. ``id`` is the cursor for the next page (``after``)."""

    model_config = ConfigDict(frozen=True)

    id: int
    person_id: str
    org: str
    role: str
    user: str
    what: str
    purpose: str
    read_at: datetime


def _checked_purpose(purpose: str | None) -> str:
    text = (purpose or "").strip()
    if not text:
        raise RuleViolation(
            f"reading personal data needs the {PURPOSE_HEADER} header stating why", field=PURPOSE_HEADER
        )
    if len(text) > MAX_PURPOSE_LENGTH:
        raise RuleViolation(
            f"the {PURPOSE_HEADER} header is longer than {MAX_PURPOSE_LENGTH} characters", field=PURPOSE_HEADER
        )
    return text


def read_purpose(
    harbour_purpose: Annotated[str | None, Header(alias=PURPOSE_HEADER)] = None,
) -> str:
    """FastAPI dependency: the stated purpose of a personal-data read, required (422 naming the header)."""
    return _checked_purpose(harbour_purpose)


async def record_read(
    conn: Connection,
    *,
    org: str,
    role: str,
    user: str,
    person_id: UUID | str,
    what: str,
    purpose: str,
    at: datetime | None = None,
) -> int:
    """Record one read of ``what`` (e.g. "identity", "identity.phone") of a person; returns the row's id.

    ``at`` defaults to the database's clock; pass the service clock's time where tests move time.
    """
    read_id: int = await conn.fetchval(
        """INSERT INTO personal_data_reads (person_id, org, role, user_id, what, purpose, read_at)
           VALUES ($1, $2, $3, $4, $5, $6, coalesce($7, clock_timestamp()))
           RETURNING id""",
        str(person_id),
        org,
        role,
        user,
        what,
        _checked_purpose(purpose),
        at,
    )
    return read_id


async def reads_of(
    conn: Connection, person_id: UUID | str, limit: int = 50, after: int | None = None
) -> list[PersonalDataRead]:
    """One person's reads, oldest first, at most ``limit`` (capped at one more than a page of 500: the look-ahead
    that tells a page of 500 whether a next one exists), those with id above ``after``."""
    rows = await conn.fetch(
        """SELECT id, person_id, org, role, user_id, what, purpose, read_at FROM personal_data_reads
           WHERE person_id = $1 AND id > $2 ORDER BY id LIMIT $3""",
        str(person_id),
        after or 0,
        max(1, min(limit, MAX_PAGE + 1)),
    )
    return [
        PersonalDataRead(
            id=row["id"],
            person_id=row["person_id"],
            org=row["org"],
            role=row["role"],
            user=row["user_id"],
            what=row["what"],
            purpose=row["purpose"],
            read_at=row["read_at"],
        )
        for row in rows
    ]


class ReadsPage(BaseModel):
    """A page of the audited reads of one person's data (or one tip's), oldest first."""

    items: list[PersonalDataRead]
    next: str | None = Field(description="pass as ?after= for the next page; null on the last page")


async def page_of_reads(conn: Connection, person_id: UUID | str, *, after: str | None, limit: int) -> ReadsPage:
    """One page of a person's reads for a manager; ``after`` is the previous page's ``next``.

    Keyset on the read's id (unique, in the order reads were recorded): a read recorded between two page reads
    comes after the cursor and appears once, on a later page. One row more than asked tells whether a next page
    exists without a count query."""
    start = read_cursor(after, integer)[0] if after is not None else None
    rows = await reads_of(conn, person_id, limit=limit + 1, after=start)
    page = rows[:limit]
    return ReadsPage(items=page, next=cursor(page[-1].id) if len(rows) > limit else None)
