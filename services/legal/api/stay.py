"""Has this person a valid stay on day D? The residence file's history answers for any day, past ones too.

Read from ``legal_stay_periods`` (every validity period with the last day it covered) through the pure
:func:`services.legal.rules.stay_on`, so the endpoint, the aggregate and the gauge below apply one rule. A former
holder of the case (after a transfer) gets the answer from the file as it stood at its hand-over.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from prometheus_client import Gauge

from harbour.auth import Caller
from harbour.events import EVENT_TYPES
from harbour.service import RuntimeDep, ServiceRuntime
from services.legal import read_models
from services.legal.access import Action, authorize, may
from services.legal.api.models import StayGapView, StayOnDayView, StayPeriodView
from services.legal.api.residence import READ_PROBLEMS
from services.legal.residence import ResidenceProcedure
from services.legal.rules import StayPeriod, stay_on
from services.legal.timekeeping import legal_today

router = APIRouter(tags=["queries"])

# Persons (cases) with an open procedure, not ended, not EU citizens, and no period covering today: a count,
# never an id. Refreshed from the read model at every scrape (harbour.service's /metrics calls
# :func:`refresh_gauges`), so it follows the calendar without waiting for an event.
WITHOUT_VALID_STAY = Gauge(
    "harbour_legal_persons_without_valid_stay",
    "Persons whose residence procedure runs (not ended, not an EU citizen) with no valid document today",
)


@router.get("/cases/{case_id}/residence/stay", response_model=StayOnDayView, responses=READ_PROBLEMS,
            summary="Whether the person had (or has) a valid stay on a day, and the period or gap it falls in",
            description="Centre staff of the centre holding the case (a former holder: the file as at its "
                        "hand-over); the Immigration Office; the competent office.")  # fmt: skip
async def stay_on_day(
    case_id: str,
    on: date | None = Query(None, description="The day asked about (default: today); any day, past or future."),
    caller: Caller = Depends(may(Action.READ_RESIDENCE)),
    rt: ServiceRuntime = RuntimeDep,
) -> StayOnDayView:
    day = on or legal_today(rt.clock)
    async with rt.pool.acquire() as conn:
        case = await authorize(conn, caller, case_id, Action.READ_RESIDENCE)
        held_until: datetime | None = case.held_until
        if held_until is not None:
            history, opened, ended_on = await _history_as_of(conn, case_id, held_until)
        else:
            history, opened, ended_on = await read_models.stay_history(conn, case_id)
    answer = stay_on(history, day, eu_citizen=case.eu_citizen)
    gap = None
    if answer.basis == "gap" and answer.gap_from is not None and answer.previous is not None:
        gap = StayGapView(gap_from=answer.gap_from, gap_to=answer.gap_to, after=_view(answer.previous))
    return StayOnDayView(
        case_id=case_id, on=day, valid=answer.valid, basis=answer.basis,  # type: ignore[arg-type]
        procedure_open=opened, period=None if answer.period is None else _view(answer.period), gap=gap,
        status_ended_on=ended_on if ended_on is not None and ended_on <= day else None, as_of=held_until,
    )  # fmt: skip


def _view(period: StayPeriod) -> StayPeriodView:
    return StayPeriodView(document=period.document, decided_on=period.decided_on, starts_on=period.starts_on,
                          ends_on=period.ends_on, renewal_number=period.renewal_number,
                          covered_until=period.until)  # fmt: skip


async def _history_as_of(conn: Any, case_id: str, until: datetime) -> tuple[list[StayPeriod], bool, date | None]:
    # The read model holds the latest history, which may carry the receiving centre's decisions: replay the
    # stream as recorded up to the hand-over instead.
    residence = ResidenceProcedure(case_id)
    rows = await conn.fetch(
        """SELECT event_type, schema_version, payload::text AS payload FROM events
           WHERE stream_id = $1 AND recorded_at <= $2 ORDER BY stream_version""",
        residence.stream_id, until,
    )  # fmt: skip
    residence.replay(EVENT_TYPES.decode(r["event_type"], r["schema_version"], json.loads(r["payload"])) for r in rows)
    ended = residence.ended.ended_on if residence.ended else None
    return residence.history(), bool(rows), ended


async def refresh_gauges(rt: ServiceRuntime, conn: Any) -> None:
    WITHOUT_VALID_STAY.set(await read_models.count_without_valid_stay(conn, legal_today(rt.clock)))
