"""Reads of intake's read models, turned into the API's views."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg

from harbour import custody
from harbour.custody import Custody, Period
from services.intake.models import CaseView, Decision, ReferralStatusView, ReferralView

MAX_PAGE = 200


async def referral_row(conn: Any, referral_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM referral_status WHERE referral_id = $1", referral_id)


def status_view(row: asyncpg.Record) -> ReferralStatusView:
    return ReferralStatusView(**_status_fields(row))


def referral_view(row: asyncpg.Record) -> ReferralView:
    return ReferralView(
        **_status_fields(row),
        version=row["version"],
        screened=row["screened"],
        screening=json.loads(row["screening"]),
        signal_ids=list(row["signal_ids"]),
        exploitation_types=list(row["exploitation_types"]),
        urgency=list(row["urgency"]),
        interviews=row["interviews"],
        last_interview_on=row["last_interview_on"],
        consents=list(row["consents"]),
        minor=row["minor"],
        person_id=row["person_id"],
        case_id=row["case_id"],
        opened_on=row["opened_on"],
    )


def _status_fields(row: asyncpg.Record) -> dict[str, Any]:
    decision = None
    if row["status"] in ("accepted", "declined", "redirected") or row["decided_on"] is not None:
        decision = Decision(
            decision="accepted" if row["status"] == "admitted" else row["status"],
            decided_on=row["decided_on"],
            decline_reason=row["decline_reason"],
            redirected_to=row["redirected_to"],
            redirect_reason=row["redirect_reason"],
        )
    return {
        "referral_id": row["referral_id"],
        "referring_organisation_id": row["referring_org"],
        "referrer_file_number": row["referrer_file_number"],
        "target_centre": row["target_centre"],
        "region": row["region"],
        "status": row["status"],
        "submitted_on": row["submitted_on"],
        "referrer_screening": json.loads(row["referrer_screening"]),
        "decision": decision,
        "taken_up": row["status"] == "admitted",
    }


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


def case_view(row: asyncpg.Record, *, holder: Custody | None = None, **as_of: Any) -> CaseView:
    """The case as its holder sees it; ``as_of`` overrides the facts that changed after a former holder's period
    (``minor``, ``minority``, ``consents``, ``person_erased``)."""
    fields = {"minor": row["minor"], "minority": row["minority"], "consents": list(row["consents"]),
              "person_erased": row["person_erased_on"] is not None, **as_of}  # fmt: skip
    return CaseView(
        case_id=row["case_id"],
        referral_id=row["referral_id"],
        centre=holder.centre if holder is not None else row["centre"],
        admitted_by=row["centre"],
        person_id=row["person_id"],
        opened_on=row["opened_on"],
        minor=fields["minor"],
        minority=fields["minority"],
        eu_citizen=row["eu_citizen"],
        exploitation_types=list(row["exploitation_types"]),
        urgency=list(row["urgency"]),
        region=row["region"],
        referring_organisation_id=row["referring_org"],
        consents=fields["consents"],
        person_erased=fields["person_erased"],
    )


async def person_row(conn: Any, person_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM persons WHERE person_id = $1", person_id)


async def person_fields(conn: Any, person_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT field, sealed::text AS sealed, event_id FROM person_fields WHERE person_id = $1 ORDER BY field",
        person_id,
    )
