"""The demo, end to end: the five services in this process behind real sockets, the real broker, real
PostgreSQL; ``harbour_tools.demo.run`` walks its case over HTTP and every audience reads its own feed."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from rich.console import Console

from harbour_tools import demo
from services import registry
from tests.integration.test_feeds_helpers import served
from tests.support.harness import fast_settings, running_service, running_services


@asynccontextmanager
async def platform(pg_server_url: str, bootstrap: str) -> AsyncIterator[dict[str, str]]:
    """Every service of the registry, each in its own fresh database, served on a free port: name -> URL."""
    settings = fast_settings()
    starts = {name: running_service(registry.definition(name), pg_server_url=pg_server_url, bootstrap=bootstrap,
                                    settings=settings) for name in registry.available()}  # fmt: skip
    async with running_services(starts) as services, AsyncExitStack() as stack:
        urls = {}
        for name, service in services.items():
            urls[name] = await stack.enter_async_context(served(service.app))
        yield urls


async def test_the_demo_case_reaches_every_audience_it_should_and_no_other_without_personal_data(
    pg_server_url, running_broker
):
    console = Console(record=True, width=160)
    async with platform(pg_server_url, running_broker.bootstrap) as urls:
        report = await demo.run(urls, console=console, timeout=45)
    output = console.export_text()
    assert report.error is None, output
    assert report.planned > 30 and len(report.steps) == report.planned, output  # every step succeeded
    assert report.ok, output
    assert report.filtered_by_case_ref  # the tables are about this case only, told apart by pseudonym

    # Exactly the audiences the policy makes part of this case, and exactly what it grants each.
    assert set(report.received) == set(demo.EXPECTED), output
    for audience in (demo.PAYOKE, demo.INSPECTORATE, demo.IMMIGRATION_OFFICE, demo.AUDITORATE):
        assert report.types(audience) == demo.EXPECTED[audience], audience

    inspectorate = report.received[demo.INSPECTORATE]
    assert {m["file_number"] for m in inspectorate} == {report.story.inspection_file}
    assert all(set(m["data"]) <= {"received_on", "taken_up_on", "made_on", "delivered_on"} for m in inspectorate)

    auditorate = report.received[demo.AUDITORATE]
    assert {m["file_number"] for m in auditorate} == {report.story.auditorate_file}
    [statement] = [m for m in auditorate if m["milestone"] == "statement-made"]
    assert statement["data"]["report_number"] == report.story.statement_report
    [verdict] = [m for m in auditorate if m["milestone"] == "verdict-delivered"]
    assert verdict["data"]["trafficking_conviction"] is True

    immigration = report.types(demo.IMMIGRATION_OFFICE)
    for step in ("reflection-period-started", "provisional-stay-granted", "temporary-stay-granted", "stay-renewed",
                 "unlimited-stay-granted"):  # fmt: skip
        assert immigration[step] == 1, step
    assert all(m["file_number"] is None for m in report.received[demo.IMMIGRATION_OFFICE])

    payoke = report.received[demo.PAYOKE]
    assert sorted(m["data"]["housing_kind"] for m in payoke if m["milestone"] == "housing-secured") == [
        "independent", "shelter"]  # fmt: skip
    assert "housing-secured" not in report.types(demo.INSPECTORATE)

    # One reference per audience, different for each: nobody can join two feeds on it.
    refs = {a: {m["case_ref"] for m in ms} for a, ms in report.received.items()}
    assert all(len(r) == 1 for r in refs.values()) and len(set().union(*refs.values())) == len(refs)

    # No milestone, in any feed, carries the person's name, an address, or an internal id.
    text = json.dumps(report.received)
    for value in [*report.story.secrets_to_keep().values(), report.case_id, report.person_id, report.shelter_id]:
        assert value and value not in text
    assert not report.problems
    assert Counter(m["milestone"] for m in payoke)["track-closed"] == 1
    assert "What each agency received" in output and "labour-auditorate-antwerp" in output
