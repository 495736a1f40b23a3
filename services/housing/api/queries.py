"""Queries: occupancy and free beds (now and over time), the waiting list, one person's housing history."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.exceptions import RequestValidationError

from harbour.audit import read_purpose, record_read
from harbour.auth import Caller
from harbour.errors import NotFound, RuleViolation
from harbour.http.pages import CURSOR_PATTERN, cursor, integer, moment, page_of, read_cursor, text
from harbour.pii import ERASED
from harbour.service import RuntimeDep, ServiceRuntime
from schemas.housing import HousingKind, PersonMoved
from schemas.intake import Centre
from services.housing.access import may, owned_case, readable_case
from services.housing.api.models import (
    CaseHistory,
    CentreFreeBeds,
    Counts,
    DayOccupancy,
    HistoryEntry,
    IndependentAddress,
    Occupancy,
    OccupancyHistory,
    ShelterOccupancy,
    WaitingList,
    WaitingRequest,
    WaitingStatus,
)
from services.housing.commands import today

router = APIRouter(prefix="/housing", tags=["views"])
MAX_HISTORY_DAYS = 366
DEFAULT_PAGE = 100
MAX_PAGE = 500


def _counts(beds: int, in_service: int, occupied: int) -> Counts:
    return Counts(beds=beds, in_service=in_service, occupied=occupied, free=in_service - occupied)


@router.get("/occupancy", response_model=Occupancy)
async def occupancy(
    after: Annotated[str | None, Query(max_length=200, pattern=CURSOR_PATTERN,
                                       description="`next` of the previous page; absent for the first page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    caller: Caller = Depends(may("occupancy")),
    rt: ServiceRuntime = RuntimeDep,
) -> Occupancy:  # fmt: skip
    """The centre's beds now: its shelters a page at a time, by name, and the totals of all of them on every page."""
    # The cursor names the last shelter by its id alone: a shelter's name stays out of URLs, and so out of access
    # logs and traces. Its name is looked up again (a shelter is never renamed nor removed).
    start = (None, None)
    async with rt.pool.acquire() as conn:
        if after is not None:
            [last_id] = read_cursor(after, text)
            last_name = await conn.fetchval("SELECT name FROM shelter_names WHERE shelter_id = $1 AND centre = $2",
                                            last_id, caller.org)  # fmt: skip
            if last_name is None:
                raise RequestValidationError([{"loc": ("query", "after"), "msg": "not a cursor this service gave",
                                               "type": "value_error"}])  # fmt: skip
            start = (last_name, last_id)
        # Keyset on (name, shelter id), unique by the id: a shelter registered between two page reads appears
        # once if it sorts after the cursor. One row more tells whether a next page exists without a count query.
        rows = await conn.fetch(
            """SELECT s.shelter_id, n.name, count(*) AS beds, count(*) FILTER (WHERE b.in_service) AS in_service,
                      count(*) FILTER (WHERE b.occupant IS NOT NULL) AS occupied
                 FROM housing_shelters s JOIN housing_beds b USING (shelter_id)
                 JOIN shelter_names n USING (shelter_id)
                WHERE s.centre = $1 AND ($2::text IS NULL OR (n.name, s.shelter_id) > ($2::text, $3::text))
                GROUP BY s.shelter_id, n.name ORDER BY n.name, s.shelter_id LIMIT $4""",
            caller.org, *start, limit + 1,
        )  # fmt: skip
        total = await conn.fetchrow(
            """SELECT count(*) AS beds, count(*) FILTER (WHERE in_service) AS in_service,
                      count(*) FILTER (WHERE occupant IS NOT NULL) AS occupied
                 FROM housing_beds b JOIN housing_shelters s USING (shelter_id) WHERE s.centre = $1""",
            caller.org,
        )  # fmt: skip
    page = rows[:limit]
    shelters = [ShelterOccupancy(shelter_id=r["shelter_id"], name=r["name"],
                                 **_counts(r["beds"], r["in_service"], r["occupied"]).model_dump())
                for r in page]  # fmt: skip
    assert total is not None  # an aggregate without GROUP BY has its one row
    following = cursor(page[-1]["shelter_id"]) if len(rows) > limit else None
    return Occupancy(centre=caller.org, totals=_counts(total["beds"], total["in_service"], total["occupied"]),
                     items=shelters, next=following)  # fmt: skip


@router.get("/occupancy/history", response_model=OccupancyHistory)
async def occupancy_history(
    since: date,
    until: date | None = None,
    after: Annotated[str | None, Query(max_length=100, pattern=CURSOR_PATTERN,
                                       description="`next` of the previous page; absent for the first page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="days per page")] = DEFAULT_PAGE,
    caller: Caller = Depends(may("occupancy_history")),
    rt: ServiceRuntime = RuntimeDep,
) -> OccupancyHistory:  # fmt: skip
    """The centre's occupancy at the end of each day from ``since`` to ``until`` (default today), a page of days
    at a time, earliest first."""
    until = until or today(rt.clock)
    if until < since:
        raise RuleViolation("until precedes since", field="until")
    if (until - since).days >= MAX_HISTORY_DAYS:
        raise RuleViolation(f"at most {MAX_HISTORY_DAYS} days per query", field="since")
    first = since
    if after is not None:
        # Keyset on the day, unique in the list: the page after the last day read. A day outside the period is
        # no cursor this query gave.
        [last_read] = read_cursor(after, _day)
        if not since <= last_read < until:
            raise RequestValidationError([{"loc": ("query", "after"), "msg": "not a cursor of this period",
                                           "type": "value_error"}])  # fmt: skip
        first = last_read + timedelta(days=1)
    last = min(until, first + timedelta(days=limit - 1))
    async with rt.pool.acquire() as conn:
        # Rows on or before the page's last day; the latest one before its first gives each shelter's state on
        # that first day.
        rows = await conn.fetch(
            """SELECT shelter_id, day, beds, in_service, occupied FROM housing_occupancy_daily
                WHERE centre = $1 AND day <= $2 ORDER BY day""",
            caller.org, last,
        )  # fmt: skip
    latest: dict[str, Counts] = {}
    by_day: dict[date, list[Any]] = {}
    for r in rows:
        if r["day"] < first:  # older rows only set the state each shelter starts the page with
            latest[r["shelter_id"]] = _counts(r["beds"], r["in_service"], r["occupied"])
        else:
            by_day.setdefault(r["day"], []).append(r)
    days: list[DayOccupancy] = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        for r in by_day.get(day, []):
            latest[r["shelter_id"]] = _counts(r["beds"], r["in_service"], r["occupied"])
        values = list(latest.values())
        totals = _counts(sum(c.beds for c in values), sum(c.in_service for c in values),
                         sum(c.occupied for c in values))  # fmt: skip
        days.append(DayOccupancy(day=day, shelters=dict(latest), totals=totals))
    following = cursor(last.isoformat()) if last < until else None
    return OccupancyHistory(centre=caller.org, since=since, until=until, items=days, next=following)


def _day(value: Any) -> date:
    return date.fromisoformat(text(value))


@router.get("/free-beds", response_model=list[CentreFreeBeds])
async def free_beds(
    caller: Caller = Depends(may("free_beds")), rt: ServiceRuntime = RuntimeDep
) -> list[CentreFreeBeds]:
    """Totals per centre, for choosing where to ask for a cross-centre placement: no shelter is named."""
    async with rt.pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT centre, count(*) AS beds, count(*) FILTER (WHERE in_service) AS in_service,
                      count(*) FILTER (WHERE occupant IS NOT NULL) AS occupied
                 FROM housing_beds GROUP BY centre"""
        )
    by_centre = {r["centre"]: r for r in rows}
    out = []
    for centre in Centre:
        r = by_centre.get(centre.value)
        counts = _counts(r["beds"], r["in_service"], r["occupied"]) if r else _counts(0, 0, 0)
        out.append(CentreFreeBeds(centre=centre.value, **counts.model_dump()))
    return out


@router.get("/waiting-list", response_model=WaitingList)
async def waiting_list(
    status: Annotated[WaitingStatus, Query(description="which queue: waiting for a bed of the centre, or placed "
                                           "and awaiting the person's acceptance")] = "waiting",
    after: Annotated[str | None, Query(max_length=400, pattern=CURSOR_PATTERN,
                                       description="`next` of the previous page; absent for the first page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    caller: Caller = Depends(may("waiting_list")),
    rt: ServiceRuntime = RuntimeDep,
) -> WaitingList:  # fmt: skip
    """One queue of the caller's centre's network, a page at a time, in the order it is served: by urgency, then
    the time of the request. ``position`` is the place in the whole queue, not in the page."""
    start = read_cursor(after, integer, moment, integer, text) if after is not None else (None,) * 4
    async with rt.pool.acquire() as conn:
        # Keyset on the aggregate's serving order (urgency, time, store position), made unique by the request
        # id: a request queued between two page reads appears once if it sorts after the cursor, and never
        # pushes one read already onto the next page. The positions are counted over the whole queue before
        # the keyset cuts it. One row more tells whether a next page exists without a count query.
        rows = await conn.fetch(
            """SELECT * FROM (SELECT r.*, row_number() OVER (ORDER BY urgency_rank, requested_at, seq, request_id)
                                         AS position
                                FROM housing_requests r WHERE network = $1 AND status = $2) q
                WHERE $3::integer IS NULL
                   OR (urgency_rank, requested_at, seq, request_id) > ($3::integer, $4::timestamptz, $5::bigint, $6)
                ORDER BY urgency_rank, requested_at, seq, request_id LIMIT $7""",
            caller.org, status, *start, limit + 1,
        )  # fmt: skip
    page = rows[:limit]
    items = [WaitingRequest(request_id=r["request_id"], case_id=r["case_id"], from_centre=r["from_centre"],
                            needs=list(r["needs"]), urgency=r["urgency"], requested_at=r["requested_at"].isoformat(),
                            position=r["position"]) for r in page]  # fmt: skip
    last = page[-1] if len(rows) > limit else None
    following = None if last is None else cursor(last["urgency_rank"], last["requested_at"].isoformat(), last["seq"],
                                                 last["request_id"])  # fmt: skip
    return WaitingList(centre=caller.org, status=status, items=items, next=following)


_HISTORY_FIELDS = ("on", "request_id", "shelter_id", "bed_id", "to", "reason", "position")


@router.get("/cases/{case_id}/history", response_model=CaseHistory)
async def case_history(
    case_id: str,
    after: Annotated[str | None, Query(max_length=100, pattern=CURSOR_PATTERN,
                                       description="`next` of the previous page; absent for the first page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    caller: Caller = Depends(may("case_history")),
    rt: ServiceRuntime = RuntimeDep,
) -> CaseHistory:  # fmt: skip
    """The case's housing facts, a page at a time, in the order they were recorded."""
    start = read_cursor(after, integer, integer) if after is not None else None
    async with rt.pool.acquire() as conn:
        # The holder reads all of it; a former holder what housing recorded while it held the case (403 for
        # nothing, 404 for a centre that never held it).
        reading = await readable_case(conn, case_id, caller)
        # Every housing event of the case, across the networks and the person's own stream: network events
        # are stored under their own case (ShelterNetwork.case_key_for), so one indexed read finds them all.
        recorded = await rt.store.read_case(case_id, conn=conn)
    # Keyset on the store's order (transaction, position), unique per event; one case's events are read whole
    # (what a former holder may read is decided per event), and cut into the page here.
    readable = [r for r in recorded if reading.may_read(r.recorded_at)]
    page, last = page_of(readable, lambda r: [r.tx_id, r.global_position], start, limit)
    entries = []
    for r in page:
        payload = r.payload
        centre = payload.get("centre") or payload.get("host_centre")
        if centre is None and r.stream_type == "shelter-network":
            centre = r.stream_id.removeprefix("shelter-network-")
        entries.append(HistoryEntry(at=r.recorded_at.isoformat(), event_type=r.event_type, centre=centre,
                                    has_address=payload.get("address") is not None,
                                    **{k: payload.get(k) for k in _HISTORY_FIELDS}))  # fmt: skip
    return CaseHistory(case_id=case_id, items=entries, next=None if last is None else cursor(*last))


@router.get("/cases/{case_id}/independent-address", response_model=IndependentAddress)
async def independent_address(
    case_id: str, caller: Caller = Depends(may("independent_address")), purpose: str = Depends(read_purpose),
    rt: ServiceRuntime = RuntimeDep,
) -> IndependentAddress:  # fmt: skip
    async with rt.store.transaction() as conn:
        # Where the person lives now is the holder's to know only: a former holder reads its period's history
        # (which says that there was an independent address, not what it is), and gets 403 here.
        case = await owned_case(conn, case_id, caller, act=False)
        stream = await rt.store.read_stream(f"placement-{case_id}", conn=conn)
        last = stream[-1] if stream else None  # where the person lives now, not where they once lived
        if last is None or not isinstance(last.event, PersonMoved) or last.event.to is not HousingKind.INDEPENDENT:
            raise NotFound("the person does not live in independent housing followed by the centre")
        assert last.event.address is not None
        clear = await rt.vault.open(conn, last.event.address, "address", last.event_id)
        await record_read(conn, org=caller.org, role=str(caller.role), user=caller.user, person_id=case.person_id,
                          what="housing.independent-address", purpose=purpose, at=rt.clock.now())  # fmt: skip
    return IndependentAddress(case_id=case_id, since=last.event.on, address=ERASED if clear is None else clear)
