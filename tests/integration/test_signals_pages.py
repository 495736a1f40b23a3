"""The public signal check and the anonymous tip line, in Debian's chromium (Playwright, the system binary).

One browser and one signals service for the module (its relay on the module's real broker), on a real socket.
Each page is checked where a person meets it: in each of the four languages, at a phone's and a desktop's width
(a screenshot each, and no sideways scrolling), with axe-core (from npm, ``make axe-core``) injected into the page
finding no serious or critical violation, with nothing requested from another host, no cookie set and the
strict Content-Security-Policy on every answer. A tip is sent with JavaScript off (post, redirect, thanks) and on
(``tip.js``: JSON with an Idempotency-Key); a bad one shows its errors in the reader's language and records
nothing; a good one reaches ``signals.events.v1`` addressed to the centre of its region. Last, after a scripted
session, every table, log line, span and topic record is searched for the client's address, the browser's user
agent and the tipster's words and contact: none is there in clear.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright

from harbour import telemetry
from harbour.settings import REPO_ROOT
from schemas.catalogue import LANGUAGES, load_catalogue
from services.signals.app import DEFINITION
from services.signals.commands import form_tip_id
from services.signals.pages import CONTENT_SECURITY_POLICY
from services.signals.privacy import LIMIT
from services.signals.text import T
from tests.integration.test_docs_pages import debian_chromium, leaves_the_host
from tests.integration.test_feeds_helpers import served
from tests.support.harness import running_service
from tests.support.kafka import read_topic
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
AXE = REPO_ROOT / "var" / "npm" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
AXE_SOURCE = AXE.read_text("utf-8") if AXE.is_file() else ""
SPANS = InMemorySpanExporter()
telemetry.EXTRA_SPAN_PROCESSORS.append(SimpleSpanProcessor(SPANS))
USER_AGENT = "HarbourPrivacyProbe/1.0 (tipster's browser)"
PHONE, DESKTOP = {"width": 360, "height": 740}, {"width": 1280, "height": 800}
SHOTS = REPO_ROOT / "var" / "screenshots" / "signals"
TWO = ["movement-and-control.identity-documents-withheld", "work-and-living-conditions.little-or-no-pay"]


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


LOGS = Lines()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    assert AXE.is_file(), f"{AXE} is missing: `make axe-core` installs it"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=debian_chromium(), headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="module")
async def site(pg_server_url: str, broker) -> AsyncIterator[dict[str, Any]]:
    logging.getLogger().addHandler(LOGS)
    try:
        async with running_service(DEFINITION, pg_server_url=pg_server_url, bootstrap=broker.bootstrap) as service:
            async with served(service.app) as url:
                yield {"url": url, "service": service, "bootstrap": broker.bootstrap}
    finally:
        logging.getLogger().removeHandler(LOGS)


@pytest.fixture(autouse=True)
def fresh_rate_limit() -> None:
    LIMIT.reset()  # each test's tips within the share of one browser


class Visit:
    """A browser context that records what left the host and every answer's headers."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.outside: list[str] = []
        self.answers: list[dict[str, str]] = []

    async def page(self) -> Page:
        page = await self.context.new_page()

        async def guard(route: Route) -> None:
            if leaves_the_host(route.request.url):
                self.outside.append(route.request.url)
                await route.abort("blockedbyclient")
            else:
                await route.continue_()

        await page.route("**/*", guard)
        page.on("response", lambda response: self.answers.append(response.headers))
        return page


async def visit(browser: Browser, *, language: str = "en", javascript: bool = True, viewport=PHONE) -> Visit:
    context = await browser.new_context(java_script_enabled=javascript, viewport=viewport, user_agent=USER_AGENT,
                                        extra_http_headers={"Accept-Language": f"{language};q=0.9"},
                                        service_workers="block")  # fmt: skip
    context.set_default_timeout(15_000)  # a page that never comes fails the test, not the run
    return Visit(context)


async def axe_violations(page: Page) -> list[str]:
    # Evaluated by the browser's debugging protocol, which the page's CSP does not govern (the CSP refuses an
    # injected <script>, as it should): nothing is fetched, and the page's own policy stays as served.
    await page.evaluate(AXE_SOURCE + "\n;void 0")
    found = await page.evaluate("async () => (await axe.run(document)).violations"
                                ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
                                ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))")  # fmt: skip
    return list(found)


async def no_sideways_scroll(page: Page) -> bool:
    return bool(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def same_headers(visit_: Visit) -> None:
    assert visit_.outside == []
    for headers in visit_.answers:
        assert "set-cookie" not in headers
    pages = [h for h in visit_.answers if h.get("content-type", "").startswith("text/html")]
    assert pages and all(h["content-security-policy"] == CONTENT_SECURITY_POLICY for h in pages)


async def test_the_signal_check_speaks_each_language_by_accept_language_and_switches_fits_a_phone_and_passes_axe(
    browser, site
):
    SHOTS.mkdir(parents=True, exist_ok=True)
    catalogue = load_catalogue()
    for language in LANGUAGES:
        for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            v = await visit(browser, language=language, viewport=viewport)
            try:
                page = await v.page()
                response = await page.goto(f"{site['url']}/", wait_until="load")
                assert response is not None and response.status == 200
                assert len(await response.body()) < 100_000
                assert await page.get_attribute("html", "lang") == language
                assert await page.title() == T["title"][language]
                first = catalogue.categories[0].signals[0]
                assert await page.locator(f"label[for='s-{first.id}']").inner_text() == first.labels.in_(language)
                assert await no_sideways_scroll(page), (language, name)
                await page.screenshot(path=str(SHOTS / f"check-{language}-{name}.png"), full_page=True)
                if name == "phone":
                    assert await axe_violations(page) == [], language
                    other = "fr" if language != "fr" else "de"
                    await page.click(f"nav.languages a[hreflang='{other}']")
                    assert await page.get_attribute("html", "lang") == other
                same_headers(v)
            finally:
                await v.context.close()


async def test_two_signals_ticked_say_act_with_112_first_and_the_professionals_page_lists_the_checklist(browser, site):
    v = await visit(browser, language="nl")  # the check is a plain GET form; scripts on only for axe
    try:
        page = await v.page()
        await page.goto(f"{site['url']}/", wait_until="load")
        for signal in TWO:
            await page.check(f"input[value='{signal}']")
        await page.click("main button[type=submit]")
        assert T["act"]["nl"] in await page.locator(".advice").inner_text()
        contacts = await page.locator("ol.contacts > li").all_inner_texts()
        assert contacts[0].startswith("112") and any("Payoke" in c for c in contacts)
        assert contacts[-1].startswith("101")
        assert await no_sideways_scroll(page)
        assert await axe_violations(page) == []
        await page.goto(f"{site['url']}/professionals?lang=nl", wait_until="load")
        assert await page.locator("li[data-signal]").count() == len(load_catalogue().signal_ids())
        assert await axe_violations(page) == []
        same_headers(v)
    finally:
        await v.context.close()


async def _fill(page: Page, *, description: str, postcode: str, callback: str = "") -> str:
    await page.fill("#description", description)
    await page.fill("#postcode", postcode)
    await page.fill("#municipality", "Elsene")
    if callback:
        await page.fill("#callback", callback)
    await page.check("#k-labour-exploitation")
    return str(await page.get_attribute("input[name=key]", "value"))


async def _tips(site: dict[str, Any]) -> list[dict[str, Any]]:
    async with site["service"].runtime.pool.acquire() as conn:
        rows = await conn.fetch("SELECT payload FROM events WHERE event_type = 'TipSubmitted'")
    import json

    return [json.loads(r["payload"]) if isinstance(r["payload"], str) else dict(r["payload"]) for r in rows]


async def test_a_tip_without_javascript_is_redirected_to_thanks_and_reaches_the_centre_of_its_region(browser, site):
    v = await visit(browser, language="fr", javascript=False)
    try:
        page = await v.page()
        await page.goto(f"{site['url']}/check?signal={TWO[0]}&signal={TWO[1]}", wait_until="load")
        await page.click("main a[href^='/tip']")
        key = await _fill(page, description="Des ouvriers dorment dans l'atelier", postcode="1050")
        await page.click("main button[type=submit]")
        assert page.url.endswith("/tip/thanks?lang=fr")
        assert T["thanks"]["fr"] in await page.inner_text("main")
        same_headers(v)
    finally:
        await v.context.close()
    tip_id = form_tip_id(key)

    async def on_the_topic() -> list[Any]:
        records = await read_topic(site["bootstrap"], "signals.events.v1")
        return [r for r in records if r.key == tip_id.encode() or tip_id.encode() in (r.value or b"")]

    await wait_until(on_the_topic, timeout=20)
    import json

    tip = json.loads((await on_the_topic())[0].value)
    tip = tip.get("payload", tip)
    assert tip["centre"] == "centre-pag-asa" and tip["region"] == "brussels-capital"
    assert tip["signal_ids"] == sorted(TWO) and tip["exploitation_types"] == ["labour-exploitation"]


async def test_a_tip_with_javascript_goes_as_json_with_its_key_and_is_recorded_once(browser, site):
    before = len(await _tips(site))
    v = await visit(browser, language="de", javascript=True)
    try:
        page = await v.page()
        await page.goto(f"{site['url']}/tip", wait_until="load")
        await _fill(page, description="Kinder betteln jeden Tag am Bahnhof", postcode="4700")
        assert await no_sideways_scroll(page)
        assert await axe_violations(page) == []
        async with page.expect_request(lambda r: r.url.endswith("/tips") and r.method == "POST") as sent:
            await page.click("main button[type=submit]")
        assert (await sent.value).headers.get("idempotency-key")
        await page.wait_for_url(re.compile(r"/tip/thanks\?lang=de&via=script$"))
        same_headers(v)
    finally:
        await v.context.close()
    after = await _tips(site)
    assert len(after) == before + 1
    assert any(t["centre"] == "centre-surya" and t["postcode"] == "4700" for t in after)


async def test_a_bad_tip_shows_its_errors_in_the_readers_language_and_records_nothing(browser, site):
    before = len(await _tips(site))
    # With scripts on: tip.js's JSON post is refused (422), and it falls back to the plain form post, whose page
    # shows the errors in the reader's language (a page with scripts off gets the same page from the same post).
    v = await visit(browser, language="nl")
    try:
        page = await v.page()
        await page.goto(f"{site['url']}/tip", wait_until="load")
        await page.fill("#postcode", "12")
        response_waiter = page.expect_response(lambda r: r.url.endswith("/tip"))
        async with response_waiter as answer:
            await page.click("main button[type=submit]")
        assert (await answer.value).status == 422
        await page.wait_for_load_state("load")
        await page.locator(".errors").wait_for()
        errors = await page.locator(".errors li").all_inner_texts()
        assert T["e_description"]["nl"] in errors and T["e_postcode"]["nl"] in errors
        assert await page.get_attribute("#postcode", "aria-invalid") == "true"
        assert await no_sideways_scroll(page)
        await page.screenshot(path=str(SHOTS / "tip-errors-nl-phone.png"), full_page=True)
        assert await axe_violations(page) == []
        same_headers(v)
    finally:
        await v.context.close()
    assert len(await _tips(site)) == before


async def test_after_a_scripted_session_no_address_user_agent_or_tipster_words_are_anywhere(browser, site):
    words, contact = "Seven workers locked in the greenhouse at night", "+32 470 12 34 56"
    SPANS.clear()
    v = await visit(browser, language="en", javascript=False)
    try:
        page = await v.page()
        await page.goto(f"{site['url']}/tip", wait_until="load")
        await _fill(page, description=words, postcode="9000", callback=contact)
        await page.click("main button[type=submit]")
        assert page.url.endswith("/tip/thanks?lang=en")
        same_headers(v)
    finally:
        await v.context.close()
    secrets = ["127.0.0.1", "HarbourPrivacyProbe", words, contact, "470 12 34"]
    service = site["service"]
    texts: list[str] = []
    dsn = service.runtime.endpoints.database_url
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch("SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN "
                                  "('pg_catalog', 'information_schema')")  # fmt: skip
        assert tables
        for row in tables:
            name = f'"{row["schemaname"]}"."{row["tablename"]}"'
            texts += [r[0] for r in await conn.fetch(f"SELECT t::text FROM {name} t")]
    finally:
        await conn.close()
    assert any("TipSubmitted" in t for t in texts)  # the scan read the store
    texts += LOGS.lines
    spans = SPANS.get_finished_spans()
    assert spans
    # The client connects from 127.0.0.1, as do the database and the broker the spans rightly name: in spans the
    # client's address is looked for where HTTP server spans would put it, and must not be there.
    client_keys = {"client.address", "net.peer.ip", "http.client_ip", "net.sock.peer.addr", "client.port",
                   "user_agent.original", "http.user_agent", "http.request.header.cookie"}  # fmt: skip
    http = [s for s in spans if "http.route" in (s.attributes or {}) or "http.target" in (s.attributes or {})]
    assert http
    assert [(s.name, k) for s in http for k in (s.attributes or {}) if k in client_keys] == []
    span_texts = [repr(dict(s.attributes or {})) + s.name for s in spans]
    span_texts += [repr(dict(e.attributes or {})) for s in spans for e in s.events]
    assert [t[:120] for t in span_texts for secret in secrets[1:] if secret in t] == []
    records = await read_topic(site["bootstrap"], "signals.events.v1")
    texts += [(r.value or b"").decode() + repr(r.headers) for r in records]
    traces = Path(service.settings.var_dir) / "traces"
    files = [p.read_text(errors="replace") for p in traces.glob("signals*")] if traces.is_dir() else []
    assert [f for f in files for secret in secrets[1:] if secret in f] == []  # (the database is at 127.0.0.1 too)
    assert [f for f in files for key in client_keys if f'"key":"{key}"' in f] == []
    leaks = [(secret, text[:120]) for text in texts for secret in secrets if secret in text]
    assert leaks == []
