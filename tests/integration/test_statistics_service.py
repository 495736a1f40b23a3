"""The statistics service against the real PostgreSQL, broker and Debian's chromium: a few cases go through the real
topics end to end (with their profiles, one folded before its CaseOpened), the rest of the population is seeded
in-process; a release is made, listed, read as JSON, CSV and its report page, and its figures agree with a direct
count; an erasure changes no figure; no case id, person id or referral id in any answer, log line or span."""

from __future__ import annotations

import base64
import json
import logging
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import reduce
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from harbour import telemetry
from harbour.clock import ManualClock
from schemas import intake, legal, tracks
from services.statistics import store
from services.statistics.app import DEFINITION
from services.statistics.domain import STANDARD_TABLES
from services.statistics.facts import Fact, fact_key, fold
from tests.integration.test_docs_pages import debian_chromium
from tests.integration.test_feeds_helpers import served
from tests.support.harness import RunningService, fast_settings, running_service
from tests.support.statistics_population import case_opened, case_profiled, person
from tests.support.upstream import Upstream, upstream
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
SPANS = InMemorySpanExporter()
telemetry.EXTRA_SPAN_PROCESSORS.append(SimpleSpanProcessor(SPANS))
for _provider in telemetry._providers.values():  # providers made before this module was imported
    _provider.add_span_processor(SimpleSpanProcessor(SPANS))

TAG = uuid.uuid4().hex[:10]  # in every id of this module's cases, so a leak of any of them is found
FACT_KEY = base64.b64encode(b"s" * 32).decode()
MYRIA = ("myria", "analyst")


@dataclass
class Env:
    stats: RunningService
    intake: Upstream
    legal: Upstream
    cases: list[str]
    tracks: Upstream | None = None
    truths: list[dict[str, Any]] = field(default_factory=list)  # what every case of the release is


async def _count(svc: RunningService, sql: str, *args: object) -> int:
    async with svc.runtime.pool.acquire() as conn:
        return int(await conn.fetchval(sql, *args))


@pytest.fixture(scope="module")
async def env(pg_server_url: str, broker) -> AsyncIterator[Env]:
    settings = fast_settings(statistics_fact_key=FACT_KEY)
    clock = ManualClock(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    async with (
        running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=broker.bootstrap, clock=clock,
                        settings=settings) as stats,
        upstream("intake", pg_server_url=pg_server_url, bootstrap=broker.bootstrap) as intake_up,
        upstream("legal", pg_server_url=pg_server_url, bootstrap=broker.bootstrap) as legal_up,
        upstream("tracks", pg_server_url=pg_server_url, bootstrap=broker.bootstrap) as tracks_up,
    ):  # fmt: skip
        cases = [f"case-{TAG}-{n}" for n in range(3)]
        # Their profiles as intake records them: the first case's (a boy of 8 from Fiji) after the referral's own
        # (no case id: counted nowhere), both keyed by the referral and published before its CaseOpened, on
        # another partition; the second's after its CaseOpened, keyed by the case; the third has none.
        first, second = (dict(referral=f"ref-{case_id}", on=date(2026, 3, 1), identified=date(2026, 2, 27))
                         for case_id in cases[:2])  # fmt: skip
        await intake_up.publish(f"referral-ref-{cases[0]}", f"ref-{cases[0]}", [
            case_profiled(None, **first, sex=intake.Sex.UNKNOWN, born=None, nationality="MA"),
            case_profiled(cases[0], **first, sex=intake.Sex.MALE, born=date(2017, 8, 1), nationality="FJ"),
        ])  # fmt: skip
        for n, case_id in enumerate(cases):
            opened = case_opened(case_id, on=date(2026, 3, 1 + n), minor=n == 0, centre="centre-payoke")
            profile = [case_profiled(case_id, **second, sex=intake.Sex.FEMALE, born=date(1999, 3, 14),
                                     nationality="NG")] if n == 1 else []  # fmt: skip
            await intake_up.publish(f"case-{case_id}", case_id, [opened, *profile])
            await legal_up.publish(f"residence-{case_id}", case_id, [legal.ReflectionPeriodStarted(
                case_id=case_id, decided_on=date(2026, 3, 10), starts_on=date(2026, 3, 10),
                ends_on=date(2026, 12, 20), unaccompanied_minor=n == 0)])  # fmt: skip

        secret = store.secret(settings)
        keys = [fact_key(secret, case_id) for case_id in cases[:2]]

        async def consumed() -> bool:
            profiled = await _count(stats, "SELECT count(*) FROM statistics_facts WHERE fact_key = ANY($1) AND "
                                    "fact->>'sex' IN ('male', 'female')", keys)  # fmt: skip
            return profiled == 2 and await _count(stats, "SELECT count(*) FROM statistics_facts WHERE year = 2026 "
                                                  "AND fact->>'stage' = 'annex-15'") == 3  # fmt: skip

        await wait_until(consumed, timeout=30)
        truths = [{"form": "labour-exploitation", "sex": sex, "age band": band, "region": region}
                  for sex, band, region in (("male", "0-11", "oceania"), ("female", "25-34", "africa"),
                                            ("unknown", "unknown", "unknown"))]  # fmt: skip
        # The rest of the population in-process, straight into the fact table (the broker carried three).
        rng = random.Random(7)
        async with stats.runtime.store.transaction() as conn:
            for n in range(300):
                p = person(rng, n)
                truths.append(p.truth)
                await store.save(conn, fact_key(secret, p.case_id), reduce(fold, p.events, Fact()))
        yield Env(stats, intake_up, legal_up, cases, tracks_up, truths)


def _no_ids(text: str) -> None:
    assert TAG not in text and "person-case" not in text and "ref-case" not in text


async def test_a_release_made_by_myria_is_listed_read_as_json_csv_and_its_report_and_names_no_case(env, caplog):
    caplog.set_level(logging.DEBUG)
    svc = env.stats
    made = await svc.client.post("/releases", json={"period": 2026}, headers={**svc.token(*MYRIA),
                                 "Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
    assert made.status_code == 201, made.text
    release = made.json()
    assert release["cases"] == 303 and release["k"] == 11 and not release["public"]
    assert made.headers["Location"] == f"/releases/{release['release_id']}"
    listed = await svc.client.get("/releases?limit=1", headers=svc.token(*MYRIA))
    assert listed.json()["items"][0]["release_id"] == release["release_id"]
    read = await svc.client.get(made.headers["Location"], headers=svc.token(*MYRIA))
    assert read.json() == release
    table = await svc.client.get(f"/releases/{release['release_id']}/tables/form-by-age-group.csv",
                                 headers=svc.token(*MYRIA))  # fmt: skip
    assert table.status_code == 200 and table.text.startswith("form,age group,count,suppressed\n")
    report = await svc.client.get(f"/releases/{release['release_id']}/report", headers=svc.token(*MYRIA))
    assert report.status_code == 200 and report.text.count("<svg") == len(release["tables"])
    # A release that is not public is not there for anyone but Myria's analysts.
    hidden = await svc.client.get(made.headers["Location"], headers=svc.token("centre-payoke", "caseworker"))
    assert hidden.status_code == 404
    tables = [await svc.client.get(f"/releases/{release['release_id']}/tables/{name}.csv", headers=svc.token(*MYRIA))
              for name, *_ in STANDARD_TABLES]  # fmt: skip
    assert all(t.status_code == 200 for t in tables)
    for text in (made.text, listed.text, read.text, table.text, report.text, *(t.text for t in tables)):
        _no_ids(text)
    for record in caplog.records:
        _no_ids(record.getMessage())
    spans = SPANS.get_finished_spans()
    # The consume spans of the three cases are among them: their record keys were the case ids.
    assert any((span.attributes or {}).get("messaging.system") == "kafka" for span in spans)
    for span in spans:
        _no_ids(repr(dict(span.attributes or {})) + span.name)
        for event in span.events:
            _no_ids(repr(dict(event.attributes or {})))


async def test_the_profiles_tables_agree_with_a_direct_count_of_the_cases(env):
    svc = env.stats
    made = await svc.client.post("/releases", json={"period": 2026}, headers={**svc.token(*MYRIA),
                                 "Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
    tables = {t["name"]: t for t in made.json()["tables"]}
    assert len(env.truths) == made.json()["cases"] == 303
    sex = {"female": "female", "male": "male", "other": "other-or-unknown", "unknown": "other-or-unknown"}
    compared = 0
    for name, row_of in (("form-by-sex", "form"), ("age-band-by-sex", "age band"), ("region-by-sex", "region")):
        direct = Counter((t[row_of], sex[t["sex"]]) for t in env.truths)
        for cell in tables[name]["cells"]:
            if cell["count"] is None:
                continue
            row, column = cell["row"], cell["column"]
            inside = [n for (r, c), n in direct.items() if row in (r, "total") and column in (c, "total")]
            assert cell["count"] == sum(inside), (name, cell)
            compared += 1
    assert compared > 10
    # The boy from Fiji: his profile, folded before his CaseOpened and keyed by the referral, is on his case's row
    # (not the referral's own profile before it); his region's row is suppressed.
    async with svc.runtime.pool.acquire() as conn:
        row = await conn.fetchval("SELECT fact FROM statistics_facts WHERE fact_key = $1",
                                  fact_key(store.secret(svc.settings), env.cases[0]))  # fmt: skip
    boy = Fact.from_json(json.loads(row))
    assert (boy.sex, boy.age_band, boy.world_region, boy.age_group, boy.counted) == ("male", "0-11", "oceania",
                                                                                     "minor", True)  # fmt: skip
    region = {(c["row"], c["column"]): c for c in tables["region-by-sex"]["cells"]}
    assert region[("oceania", "total")]["count"] is None and region[("total", "total")]["count"] == 303


async def test_an_erasure_changes_no_figure(env):
    svc = env.stats
    headers = {**svc.token(*MYRIA)}
    before = (await svc.client.post("/releases", json={"period": 2026},
                                    headers={**headers, "Idempotency-Key": uuid.uuid4().hex})).json()  # fmt: skip
    minor = env.cases[0]
    erased = intake.PersonErased(person_id=f"person-{minor}", reason=intake.ErasureReason.PERSON_REQUEST,
                                 erased_on=date(2026, 11, 30))  # fmt: skip
    # Then a fact that changes nothing (the case is a minor already), on the same key: once it is in the inbox,
    # the erasure before it was read too.
    marker = intake.MinorityEstablished(case_id=minor, kind=intake.MinorKind.UNACCOMPANIED,
                                        basis=intake.MinorFlagReason("age-assessment"),
                                        established_on=date(2026, 11, 30))  # fmt: skip
    await env.intake.publish(f"person-{minor}", minor, [erased])
    (recorded,) = await env.intake.publish(f"case-{minor}", minor, [marker])

    async def marker_consumed() -> bool:
        return await _count(svc, "SELECT count(*) FROM inbox WHERE event_id = $1", recorded.event_id) == 1

    await wait_until(marker_consumed, timeout=30)
    after = (await svc.client.post("/releases", json={"period": 2026},
                                   headers={**headers, "Idempotency-Key": uuid.uuid4().hex})).json()  # fmt: skip
    assert after["version"] == before["version"] + 1
    assert after["tables"] == before["tables"] and after["durations"] == before["durations"]


async def test_a_centre_reads_its_own_operational_counts_and_never_another_centres(env):
    svc = env.stats
    own = await svc.client.get("/centres/centre-payoke/operational", headers=svc.token("centre-payoke", "manager"))
    assert own.status_code == 200 and own.json()["open_cases"] >= 3
    assert own.json()["documents_expiring_in_30_days"] >= 3  # the three Annex 15s end on 20 December
    other = await svc.client.get("/centres/centre-surya/operational", headers=svc.token("centre-payoke", "manager"))
    assert other.status_code == 404


async def test_a_transferred_case_counts_among_the_open_cases_of_the_centre_holding_it_and_no_longer_the_first(
    env,
):
    svc = env.stats

    async def counts(centre: str) -> dict[str, int]:
        answer = await svc.client.get(f"/centres/{centre}/operational", headers=svc.token(centre, "manager"))
        assert answer.status_code == 200, answer.text
        return answer.json()

    payoke, surya = await counts("centre-payoke"), await counts("centre-surya")
    releases = {"period": 2026}
    before = (await svc.client.post("/releases", json=releases, headers={**svc.token(*MYRIA),
              "Idempotency-Key": uuid.uuid4().hex})).json()  # fmt: skip
    moved = env.cases[1]
    assert env.tracks is not None
    (recorded,) = await env.tracks.publish(f"track-{moved}", moved, [tracks.TransferAccepted(
        case_id=moved, from_centre=intake.Centre.PAYOKE, to_centre=intake.Centre.SURYA, caseworker_id="cw-s1",
        accepted_on=date(2026, 11, 2))])  # fmt: skip

    async def consumed() -> bool:
        return await _count(svc, "SELECT count(*) FROM inbox WHERE event_id = $1", recorded.event_id) == 1

    await wait_until(consumed, timeout=30)
    now_payoke, now_surya = await counts("centre-payoke"), await counts("centre-surya")
    assert now_payoke["open_cases"] == payoke["open_cases"] - 1 and now_surya["open_cases"] == surya["open_cases"] + 1
    # Its Annex 15 ends on 20 December: the document to watch is the holding centre's now.
    assert now_payoke["documents_expiring_in_30_days"] == payoke["documents_expiring_in_30_days"] - 1
    assert now_surya["documents_expiring_in_30_days"] == surya["documents_expiring_in_30_days"] + 1
    # The releases count the case where it was identified: the published figures do not move.
    after = (await svc.client.post("/releases", json=releases, headers={**svc.token(*MYRIA),
             "Idempotency-Key": uuid.uuid4().hex})).json()  # fmt: skip
    assert after["tables"] == before["tables"]


async def test_the_report_page_renders_its_charts_in_chromium(env):
    from playwright.async_api import async_playwright

    svc = env.stats
    made = await svc.client.post("/releases", json={"period": 2026, "public": True},
                                 headers={**svc.token(*MYRIA), "Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
    release = made.json()
    async with served(svc.app) as url, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=debian_chromium(), headless=True)
        try:
            # As the public reads it: no token at all.
            page = await browser.new_page()
            response = await page.goto(f"{url}/public/releases/{release['release_id']}/report")
            assert response is not None and response.status == 200
            assert await page.locator("svg.chart").count() == len(release["tables"])
            assert await page.locator("svg.chart rect.bar").count() == sum(len(t["rows"]) for t in release["tables"])
            box = await page.locator("svg.chart").first.bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 50
        finally:
            await browser.close()


async def test_harbour_stats_release_makes_a_release_and_saves_each_table_as_csv(env, tmp_path):
    import asyncio

    from typer.testing import CliRunner

    from harbour_tools.cli.main import app

    svc = env.stats
    token = svc.token(*MYRIA)["Authorization"].removeprefix("Bearer ")
    async with served(svc.app) as url:
        args = ["stats", "release", "--period", "2026", "--url", url, "--out", str(tmp_path), "--token", token]
        # The command's HTTP client blocks: run it off the loop that serves it.
        result = await asyncio.to_thread(CliRunner().invoke, app, args)
    assert result.exit_code == 0, result.output
    (folder,) = tmp_path.iterdir()
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{name}.csv" for name, *_ in STANDARD_TABLES)
    _no_ids(result.output)


async def test_private_releases_spend_the_periods_budget_and_one_past_it_is_a_422_that_records_nothing(env):
    svc = env.stats
    budget = svc.settings.statistics_epsilon_per_period

    async def release(epsilon: float):
        return await svc.client.post("/releases", json={"period": 2026, "mode": "differential-privacy",
                                     "epsilon": epsilon}, headers={**svc.token(*MYRIA),
                                     "Idempotency-Key": uuid.uuid4().hex})  # fmt: skip

    first = await release(budget * 0.6)
    assert first.status_code == 201, first.text
    made = first.json()
    assert made["mode"] == "differential-privacy" and made["epsilon"] == budget * 0.6 and made["noise_scale"] > 0
    assert all(cell["count"] is not None and cell["suppressed"] is None for t in made["tables"] for cell in t["cells"])
    report = await svc.client.get(f"/releases/{made['release_id']}/report", headers=svc.token(*MYRIA))
    assert report.status_code == 200 and "differential privacy" in report.text
    releases = "SELECT count(*) FROM statistics_releases"
    held = await _count(svc, releases)
    over = await release(budget * 0.6)
    assert over.status_code == 422 and over.headers["content-type"].startswith("application/problem+json")
    assert over.json()["field"] == "epsilon" and "would exceed" in over.json()["detail"]
    assert await _count(svc, releases) == held
    _no_ids(first.text)


async def test_anyone_without_a_token_reads_the_public_releases_and_never_another(env):
    svc = env.stats

    async def release(public: bool) -> dict:
        made = await svc.client.post("/releases", json={"period": 2026, "public": public},
                                     headers={**svc.token(*MYRIA), "Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
        assert made.status_code == 201, made.text
        return made.json()

    shown, hidden = await release(True), await release(False)
    listed = await svc.client.get("/public/releases?limit=100")
    assert listed.status_code == 200
    ids = [item["release_id"] for item in listed.json()["items"]]
    assert shown["release_id"] in ids and hidden["release_id"] not in ids
    assert all(item["public"] for item in listed.json()["items"])
    read = await svc.client.get(f"/public/releases/{shown['release_id']}")
    assert read.status_code == 200 and read.json() == shown
    csv = await svc.client.get(f"/public/releases/{shown['release_id']}/tables/form-by-age-group.csv")
    assert csv.status_code == 200 and csv.text.startswith("form,age group,count,suppressed\n")
    for path in (f"/public/releases/{hidden['release_id']}", f"/public/releases/{hidden['release_id']}/report",
                 f"/public/releases/{hidden['release_id']}/tables/form-by-age-group.csv"):  # fmt: skip
        refused = await svc.client.get(path)
        assert refused.status_code == 404, path  # as if it did not exist
    # Without a token the token-holders' routes still refuse: the open door is /public/ only.
    assert (await svc.client.get(f"/releases/{shown['release_id']}")).status_code == 401
    for text in (listed.text, read.text, csv.text):
        _no_ids(text)
