"""Every service's documentation pages render in a real browser with no request leaving the host.

On a closed government network FastAPI's and FastStream's own pages rendered blank: their scripts came from public
CDNs. Now each service serves Swagger UI (``/docs``), ReDoc (``/redoc``) and the AsyncAPI page (``/asyncapi``) with
their assets from ``/docs/assets/`` (harbour/http/docs.py). Each page is loaded from the service on a real socket in
Debian's chromium, driven by Playwright for Python (``make browser`` installs it; Playwright's own browser download
is never used), and every request the page makes is recorded. A request for anywhere but this host is answered by
the test itself with an abort, so nothing ever leaves the machine, and it is counted: there must be none. The page
must also show real rendered content (an operation's summary, a channel's address), so a blank page fails too.

The services run without their background work (no relay, consumers or timers): the pages need only the HTTP API,
its OpenAPI document and the committed AsyncAPI document. One browser for the module.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Request, Route, async_playwright, expect

from harbour.http.docs import CONTENT_SECURITY_POLICY
from services.registry import available, definition
from tests.integration.test_feeds_helpers import served
from tests.support.harness import running_service
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
CHROMIUM = Path("/usr/bin/chromium")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
# Schemes that never reach a network: inline data, object URLs of the page's own blobs, the empty page.
LOCAL_SCHEMES = {"data", "blob", "about"}
# Swagger UI and ReDoc are the same code over every service's OpenAPI document (whose truth the schemathesis test
# checks): they are loaded from legal's, the largest. The AsyncAPI page renders each service's own committed
# document, and the parser in the page refuses a document it cannot read: every service's is loaded. About 2 s a page.
OPENAPI_PAGES_OF = ["legal"]
RENDER_TIMEOUT_MS = 30_000  # two cores that other suites load: a large bundle may take seconds to parse
# Chromium's console line for a load the Content-Security-Policy blocked: "Loading the image 'https://…' violates…".
CSP_REFUSAL = re.compile(r"'([^']+)' violates the following Content Security Policy directive")
# What ReDoc 2 still reaches for outside, whatever it is told: its sidebar's logo, which it hides when the load
# fails. The policy refuses it before any request is made; anything else refused would be a feature that silently
# depends on a CDN (and fails the test, to be looked at when a package is upgraded).
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def leaves_the_host(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return False
    return parts.scheme not in {"http", "https", "ws", "wss"} or parts.hostname not in LOCAL_HOSTS


def test_only_loopback_addresses_count_as_this_host():
    assert not leaves_the_host("http://127.0.0.1:8101/docs/assets/swagger-ui.css")
    assert not leaves_the_host("http://localhost:8101/openapi.json")
    assert not leaves_the_host("data:image/svg+xml;base64,AAAA")
    assert leaves_the_host("https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js")
    assert leaves_the_host("https://fonts.googleapis.com/css?family=Montserrat")
    assert leaves_the_host("http://10.0.0.1/")


def debian_chromium() -> str:
    # A missing chromium fails the module, with the fix; never a skip, never Playwright's own download.
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: `make browser` installs Debian's chromium package"
    return str(CHROMIUM)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=debian_chromium(), headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="module")
async def services(pg_server_url: str) -> AsyncIterator[dict[str, tuple[str, dict[str, Any]]]]:
    """Every service on a real socket: name -> (base URL, its OpenAPI document)."""
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        found = {}
        for name in available():
            # No background work: the broker is never asked for (the address is only recorded).
            service = await stack.enter_async_context(
                running_service(
                    definition(name), pg_server_url=pg_server_url, bootstrap="127.0.0.1:9", background=False
                )
            )
            url = await stack.enter_async_context(served(service.app))
            found[name] = (url, service.app.openapi())
        yield found


@dataclass
class Loaded:
    page: Page
    requested: list[str]  # every URL the page requested
    outside: list[str]  # those that would have left the host (aborted by the test)
    refused: list[str]  # what the page's Content-Security-Policy kept it from even asking for


async def load(browser: Browser, url: str) -> Loaded:
    """The page at ``url`` and what it asked for.

    A load the page's Content-Security-Policy refuses is never requested, so it is not among the requests: that
    is the policy's work (the page must carry it, checked below), and the browser's console names each one."""
    context = await browser.new_context(service_workers="block")
    loaded = Loaded(await context.new_page(), [], [], [])
    requested, outside = loaded.requested, loaded.outside

    async def guard(route: Route) -> None:
        if leaves_the_host(route.request.url):
            outside.append(route.request.url)
            await route.abort("blockedbyclient")
        else:
            await route.continue_()

    def seen(request: Request) -> None:
        requested.append(request.url)

    def console(message: ConsoleMessage) -> None:
        refused = CSP_REFUSAL.search(message.text)
        if refused:
            loaded.refused.append(refused.group(1))

    await context.route("**/*", guard)
    loaded.page.on("request", seen)
    loaded.page.on("console", console)
    response = await loaded.page.goto(url, wait_until="load")
    assert response is not None and response.status == 200
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    return loaded


def an_operation(openapi: dict[str, Any]) -> tuple[str, str]:
    """The path and summary of the document's first operation, which the pages must show."""
    for path, methods in openapi["paths"].items():
        for operation in methods.values():
            if isinstance(operation, dict) and operation.get("summary"):
                return path, operation["summary"]
    raise AssertionError("the OpenAPI document has no operation with a summary")


def a_channel(name: str) -> str:
    """The address of a channel of the committed AsyncAPI document (what /asyncapi renders)."""
    from schemas import asyncapi_document

    document = json.loads(asyncapi_document(name).read_text())
    return next(channel["address"] for channel in document["channels"].values() if channel.get("address"))


@pytest.mark.parametrize("name", OPENAPI_PAGES_OF)
async def test_swagger_ui_shows_the_services_operations_with_no_request_leaving_the_host(browser, services, name):
    url, openapi = services[name]
    path, _ = an_operation(openapi)
    loaded = await load(browser, f"{url}/docs")
    try:
        await expect(loaded.page.locator(".opblock-summary-path", has_text=path).first).to_be_visible(
            timeout=RENDER_TIMEOUT_MS
        )
        assert f"{url}/docs/assets/swagger-ui-bundle.js" in loaded.requested
        assert f"{url}/openapi.json" in loaded.requested
        assert loaded.outside == []
        assert loaded.refused == []
    finally:
        await loaded.page.context.close()


@pytest.mark.parametrize("name", OPENAPI_PAGES_OF)
async def test_redoc_shows_the_services_operations_with_no_request_leaving_the_host(browser, services, name):
    url, openapi = services[name]
    _, summary = an_operation(openapi)
    loaded = await load(browser, f"{url}/redoc")
    try:
        await expect(loaded.page.locator("h2", has_text=summary).first).to_be_visible(timeout=RENDER_TIMEOUT_MS)
        assert f"{url}/docs/assets/redoc.standalone.js" in loaded.requested
        assert loaded.outside == []

        # The logo is refused, and nothing else: which also shows the console is read (the other pages' empty
        # lists are not for want of listening).
        async def logo_refused() -> bool:
            return REDOC_LOGO in loaded.refused

        await wait_until(logo_refused, timeout=RENDER_TIMEOUT_MS / 1000)
        assert set(loaded.refused) == {REDOC_LOGO}
    finally:
        await loaded.page.context.close()


@pytest.mark.parametrize("name", available())
async def test_the_asyncapi_page_shows_the_committed_channels_with_no_request_leaving_the_host(browser, services, name):
    url, _ = services[name]
    address = a_channel(name)
    loaded = await load(browser, f"{url}/asyncapi")
    try:
        await expect(loaded.page.get_by_text(address, exact=True).first).to_be_visible(timeout=RENDER_TIMEOUT_MS)
        assert f"{url}/docs/assets/asyncapi.standalone.js" in loaded.requested
        assert loaded.outside == []
        assert loaded.refused == []
    finally:
        await loaded.page.context.close()


async def test_a_documentation_asset_outside_the_list_is_a_404_problem(services):
    import httpx

    url, _ = services["intake"]
    async with httpx.AsyncClient(base_url=url) as client:
        listed = await client.get("/docs/assets/swagger-ui.css")
        unlisted = await client.get("/docs/assets/..%2Fpackage.json")
    assert listed.status_code == 200 and listed.headers["content-type"].startswith("text/css")
    assert unlisted.status_code == 404
    assert unlisted.headers["content-type"] == "application/problem+json"
