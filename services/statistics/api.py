"""The statistics API: make a release, list and read releases (JSON, CSV per table, an HTML report page), and a
centre's own operational counts.

Access (``services.statistics.access``): Myria's analysts make releases and read them all; everyone else reads
the public ones, and a release that is not public is a 404 to them, as if it did not exist. The public releases
are also read without any token under ``/public/releases`` (harbour.access.public).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from harbour.auth import Caller
from harbour.clock import today
from harbour.commands import run_command
from harbour.errors import NotFound
from harbour.http import pages
from harbour.idempotency import Answer
from harbour.organisations import CENTRES
from harbour.service import RuntimeDep, ServiceRuntime
from schemas.statistics import DisclosureMode, StatisticsReleased
from services.statistics import report, store
from services.statistics.access import may, public, reads_every_release
from services.statistics.domain import DEFAULT_K, ReleaseSeries

router = APIRouter(tags=["statistics"])

MAX_PAGE = 100
ReleaseId = Annotated[str, Path(pattern=r"^[0-9]{4}-v[0-9]{1,9}$", max_length=16, description="e.g. 2026-v1")]


class ReleaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: int = Field(ge=2000, le=2100, description="the year of admission to count")
    mode: DisclosureMode = DisclosureMode.SUPPRESSION
    k: int = Field(DEFAULT_K, ge=2, le=1000, description=f"the smallest count published; at least {DEFAULT_K}")
    public: bool = False
    epsilon: float | None = Field(None, gt=0, le=10, description="differential privacy only: the privacy loss "
                                  "this release spends, out of the period's budget")  # fmt: skip


class ReleaseSummary(BaseModel):
    release_id: str
    period: int
    version: int = Field(ge=1, le=2**31 - 1)
    mode: DisclosureMode
    k: int = Field(ge=2, le=1000)
    public: bool
    released_on: str


class ReleasePage(BaseModel):
    items: list[ReleaseSummary]
    next: str | None


class OperationalCounts(BaseModel):
    """A centre's own current counts, unsuppressed: for running the centre, never published."""

    centre: str
    open_cases: int = Field(ge=0, le=2**31 - 1)
    documents_expiring_in_30_days: int = Field(ge=0, le=2**31 - 1)
    without_valid_stay: int = Field(ge=0, le=2**31 - 1)


def _summary(release: StatisticsReleased) -> ReleaseSummary:
    return ReleaseSummary(release_id=release.release_id, period=release.period, version=release.version,
                          mode=release.mode, k=release.k, public=release.public,
                          released_on=release.released_on.isoformat())  # fmt: skip


@router.post("/releases", status_code=201, response_model=StatisticsReleased, summary="Release a period's figures")
async def create_release(
    body: ReleaseRequest, caller: Caller = Depends(may("release.create")), rt: ServiceRuntime = RuntimeDep
) -> Response:
    on = today(rt.clock)

    async def work(conn: Any) -> Answer:
        series = await rt.repository.load_or_new(ReleaseSeries, str(body.period), conn=conn)
        facts, revision = await store.facts_of(conn, body.period)
        release = series.release(mode=body.mode, k=body.k, public=body.public, facts_as_of=revision, facts=facts,
                                 on=on, epsilon=body.epsilon,
                                 budget=rt.settings.statistics_epsilon_per_period)  # fmt: skip
        await rt.repository.save(series, rt.command_context(caller), conn=conn)
        return Answer(release, location=f"/releases/{release.release_id}")

    # Queued on the period: two releases of one period are numbered one after the other, never both "v2".
    return await run_command(rt.store.transaction, work, org=caller.org, body=body,
                             queue_on=f"statistics-period-{body.period}")  # fmt: skip


@router.get("/releases", response_model=ReleasePage, summary="The releases you may read, newest first")
async def list_releases(
    after: str | None = Query(None, max_length=200, pattern=pages.CURSOR_PATTERN),
    limit: int = Query(20, ge=1, le=MAX_PAGE),
    caller: Caller = Depends(may("release.list")),
    rt: ServiceRuntime = RuntimeDep,
) -> ReleasePage:
    return await _page(rt, reads_every_release(caller, "release.list"), after, limit)


async def _page(rt: ServiceRuntime, every: bool, after: str | None, limit: int) -> ReleasePage:
    before = pages.read_cursor(after, pages.integer)[0] if after is not None else 2**63 - 1
    async with rt.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT seq, release FROM statistics_releases WHERE seq < $1 AND (public OR $2) ORDER BY seq DESC "
            "LIMIT $3", before, every, limit + 1,
        )  # fmt: skip
    shown = rows[:limit]
    items = [_summary(StatisticsReleased.model_validate(json.loads(r["release"]))) for r in shown]
    return ReleasePage(items=items, next=pages.cursor(shown[-1]["seq"]) if len(rows) > limit else None)


async def _release(rt: ServiceRuntime, caller: Caller | None, release_id: str) -> StatisticsReleased:
    every = caller is not None and reads_every_release(caller, "release.read")
    async with rt.pool.acquire() as conn:
        row = await conn.fetchval("SELECT release FROM statistics_releases WHERE release_id = $1 AND (public OR $2)",
                                  release_id, every)  # fmt: skip
    if row is None:
        raise NotFound(f"there is no release {release_id!r}", field="release_id")
    return StatisticsReleased.model_validate(json.loads(row))


@router.get("/releases/{release_id}", response_model=StatisticsReleased, summary="A release with all its tables")
async def read_release(
    release_id: ReleaseId, caller: Caller = Depends(may("release.read")), rt: ServiceRuntime = RuntimeDep
) -> StatisticsReleased:
    return await _release(rt, caller, release_id)


@router.get("/releases/{release_id}/tables/{table}.csv", response_class=PlainTextResponse,
            responses={200: {"content": {"text/csv": {}}, "description": "the table as CSV"}},
            summary="One table of a release as CSV")  # fmt: skip
async def table_csv(
    release_id: ReleaseId,
    table: str = Path(pattern=r"^[a-z0-9-]{1,64}$"),
    caller: Caller = Depends(may("release.read")),
    rt: ServiceRuntime = RuntimeDep,
) -> Response:
    return _csv(await _release(rt, caller, release_id), release_id, table)


def _csv(release: StatisticsReleased, release_id: str, table: str) -> Response:
    found = next((t for t in release.tables if t.name == table), None)
    if found is None:
        raise NotFound(f"release {release_id} has no table {table!r}", field="table")
    return Response(report.csv_of(found), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{release_id}-{table}.csv"'})  # fmt: skip


@router.get("/releases/{release_id}/report", response_class=HTMLResponse, summary="A release's report page",
            responses={200: {"content": {"text/html": {}}, "description": "the report, with its charts"}})  # fmt: skip
async def report_page(
    release_id: ReleaseId, caller: Caller = Depends(may("release.read")), rt: ServiceRuntime = RuntimeDep
) -> HTMLResponse:
    return HTMLResponse(report.page(await _release(rt, caller, release_id)))


# -- the public's reads: no token (a member of the public, a journalist, Eurostat's crawler), public releases only --

PUBLIC_READ = "release.read-public"
PUBLIC = [Depends(public(PUBLIC_READ))]


@router.get("/public/releases", response_model=ReleasePage, dependencies=PUBLIC,
            summary="The public releases, newest first (no token)")  # fmt: skip
async def list_public_releases(
    after: str | None = Query(None, max_length=200, pattern=pages.CURSOR_PATTERN),
    limit: int = Query(20, ge=1, le=MAX_PAGE),
    rt: ServiceRuntime = RuntimeDep,
) -> ReleasePage:
    return await _page(rt, False, after, limit)


@router.get("/public/releases/{release_id}", response_model=StatisticsReleased, dependencies=PUBLIC,
            summary="A public release with all its tables (no token)")  # fmt: skip
async def read_public_release(release_id: ReleaseId, rt: ServiceRuntime = RuntimeDep) -> StatisticsReleased:
    return await _release(rt, None, release_id)


@router.get("/public/releases/{release_id}/tables/{table}.csv", response_class=PlainTextResponse,
            dependencies=PUBLIC, responses={200: {"content": {"text/csv": {}}, "description": "the table as CSV"}},
            summary="One table of a public release as CSV (no token)")  # fmt: skip
async def public_table_csv(
    release_id: ReleaseId, table: str = Path(pattern=r"^[a-z0-9-]{1,64}$"), rt: ServiceRuntime = RuntimeDep
) -> Response:
    return _csv(await _release(rt, None, release_id), release_id, table)


@router.get("/public/releases/{release_id}/report", response_class=HTMLResponse, dependencies=PUBLIC,
            summary="A public release's report page (no token)",
            responses={200: {"content": {"text/html": {}}, "description": "the report, with its charts"}})  # fmt: skip
async def public_report_page(release_id: ReleaseId, rt: ServiceRuntime = RuntimeDep) -> HTMLResponse:
    return HTMLResponse(report.page(await _release(rt, None, release_id)))


@router.get("/centres/{centre}/operational", response_model=OperationalCounts,
            summary="A centre's own operational counts")  # fmt: skip
async def operational(
    centre: str = Path(json_schema_extra={"enum": list(CENTRES)}, max_length=64),
    caller: Caller = Depends(may("operational.read")),
    rt: ServiceRuntime = RuntimeDep,
) -> OperationalCounts:
    if caller.org != centre:  # another centre's figures: as if there were none
        raise NotFound(f"there are no counts for {centre!r}", field="centre")
    on = today(rt.clock)
    async with rt.pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT count(*) FILTER (WHERE fact->>'track_closure' IS NULL) AS open,
                      count(*) FILTER (WHERE (fact->>'document_ends_on')::date BETWEEN $2 AND $3) AS expiring,
                      count(*) FILTER (WHERE (fact->>'without_valid_stay')::boolean) AS lapsed
               FROM statistics_facts
               WHERE year IS NOT NULL AND coalesce(fact->>'holding_centre', fact->>'centre') = $1""",
            centre, on, on + timedelta(days=30),
        )  # fmt: skip
    return OperationalCounts(centre=centre, open_cases=row["open"], documents_expiring_in_30_days=row["expiring"],
                             without_valid_stay=row["lapsed"])  # fmt: skip
