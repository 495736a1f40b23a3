"""What a former holder of a case reads: the intake file as it stood at the end of its own period.

A transfer moves the case (harbour.custody); the former centre keeps the history of its period, and nothing
recorded after the hand-over reached it (a minority established by the receiving centre, a consent withdrawn,
the person's erasure). Its period ends when intake applied the hand-over (``Custody.held_until``); facts are
matched by the store's ``recorded_at``, the database's clock, as the custody rows are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from harbour.custody import Custody
from harbour.service import ServiceRuntime
from harbour.store import RecordedEvent
from schemas.intake import Centre
from services.intake.api.models import CaseView, HistoryEntry, case_view
from services.intake.domain import Referral


async def case_events(
    rt: ServiceRuntime, conn: Any, case: asyncpg.Record, until: datetime | None
) -> list[RecordedEvent]:
    """The intake file's facts (the referral's stream, from submission on), up to ``until`` when given."""
    events = await rt.store.read_stream(f"{Referral.stream_type}-{case['referral_id']}", conn=conn)
    return [e for e in events if until is None or e.recorded_at <= until]


def history_entries(events: list[RecordedEvent]) -> list[HistoryEntry]:
    # What and when only: the facts' contents (sealed identity, circumstances) are the person read's, audited.
    return [HistoryEntry(event_id=str(e.event_id), event_type=e.event_type, recorded_at=e.recorded_at)
            for e in events]  # fmt: skip


async def case_as_held_until(rt: ServiceRuntime, conn: Any, case: asyncpg.Record, held: Custody,
                             centre: str) -> CaseView:  # fmt: skip
    """The case as ``centre`` (a former holder) last held it: its period's facts replayed, nothing later."""
    until = held.held_until(centre)
    referral = Referral(case["referral_id"])
    referral.replay(e.event for e in await case_events(rt, conn, case, until))
    erased = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM events WHERE stream_id = $1 AND event_type = 'PersonErased' "
        "AND recorded_at <= $2)",
        f"person-{case['person_id']}", until,
    )  # fmt: skip
    view = case_view(case, minor=referral.minor, minority=referral.minor_kind,
                     consents=sorted(referral.consents), person_erased=bool(erased))  # fmt: skip
    # The centre that held the case when its period ended: itself (it handed the case over then).
    return view.model_copy(update={"centre": Centre(centre)})
