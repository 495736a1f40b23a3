"""Every service's documentation pages, served with no request leaving the host.

``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) render the service's ``/openapi.json``; ``/asyncapi`` renders its
AsyncAPI document (the committed one when the definition names it, as ``/asyncapi.json`` serves it). FastAPI's and
FastStream's own pages load their scripts, styles and icons from public CDNs, so on a closed government network
they rendered blank: here every asset comes from ``/docs/assets/``, out of the npm packages that
``harbour_tools/install_docs_assets.sh`` installs from the committed lock file
(``docs_assets/package-lock.json`` at the top of the repository, into ``HARBOUR_DOCS_ASSETS_DIR``; the container
image runs the same script in its build stage and keeps only the files served). Nothing is vendored in the
repository. ``tests/integration/test_docs_pages.py`` loads each page in a real browser and counts the requests that
leave the host: none.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from harbour.http.problems import problem

log = logging.getLogger("harbour.http.docs")

# The only files served, by the name a page asks for: a closed list, so no path of the caller's reaches the disk.
ASSETS: dict[str, tuple[str, str]] = {
    "swagger-ui-bundle.js": ("swagger-ui-dist/swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": ("swagger-ui-dist/swagger-ui.css", "text/css"),
    "favicon-32x32.png": ("swagger-ui-dist/favicon-32x32.png", "image/png"),
    "redoc.standalone.js": ("redoc/bundles/redoc.standalone.js", "text/javascript"),
    "asyncapi.standalone.js": ("@asyncapi/react-component/browser/standalone/index.js", "text/javascript"),
    "asyncapi.css": ("@asyncapi/react-component/styles/default.min.css", "text/css"),
}
ASSET_PATH = "/docs/assets"

# What the pages may load: this service only. The bundles need inline scripts (the pages' own start-up code), eval
# (the AsyncAPI parser compiles its JSON Schemas), blob workers (ReDoc's search) and data: images. Whatever a bundle
# still reaches for outside (ReDoc's sidebar asks the Redocly CDN for its logo, and hides it when that fails) the
# browser refuses before any request is made.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "worker-src 'self' blob:",
    "connect-src 'self'",
    "frame-ancestors 'self'",
    "form-action 'self'",
])  # fmt: skip


def missing_assets(root: Path) -> list[str]:
    """The asset files not installed under ``root`` (empty when the pages can render)."""
    return [relative for relative, _ in ASSETS.values() if not (root / relative).is_file()]


def asyncapi_html(title: str, document: dict[str, Any]) -> str:
    """The AsyncAPI page: the AsyncAPI React component's standalone bundle, the document inline."""
    config = {
        "show": {"sidebar": True, "info": True, "servers": True, "operations": True, "messages": True,
                 "schemas": True, "errors": True},
        "sidebar": {"showServers": "byDefault", "showOperations": "byDefault"},
    }  # fmt: skip
    # Inline in a <script>: "</" would end the element early, whatever a description says.
    payload = json.dumps({"schema": document, "config": config}).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8">
    <title>{_escape(title)} AsyncAPI</title>
    <link rel="icon" type="image/png" href="{ASSET_PATH}/favicon-32x32.png">
    <link rel="stylesheet" href="{ASSET_PATH}/asyncapi.css">
  </head>
  <body>
    <div id="asyncapi"></div>
    <script src="{ASSET_PATH}/asyncapi.standalone.js"></script>
    <script>window.AsyncApiStandalone.render({payload}, document.getElementById("asyncapi"));</script>
  </body>
</html>"""


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def install(app: FastAPI, *, asyncapi: Callable[[], dict[str, Any]], root: Path) -> None:
    """The documentation routes of one service (FastAPI's own ``/docs`` and ``/redoc`` must be turned off)."""
    missing = missing_assets(root)
    if missing:
        # The API works without them; only the pages are blank. Said once, at start-up, with the fix.
        log.warning("documentation assets missing (%d files): run harbour_tools/install_docs_assets.sh", len(missing))
    title = app.title

    def guarded(page: HTMLResponse) -> HTMLResponse:
        page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return page

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return guarded(
            get_swagger_ui_html(
                openapi_url="/openapi.json",
                title=f"{title} API",
                swagger_js_url=f"{ASSET_PATH}/swagger-ui-bundle.js",
                swagger_css_url=f"{ASSET_PATH}/swagger-ui.css",
                swagger_favicon_url=f"{ASSET_PATH}/favicon-32x32.png",
                oauth2_redirect_url=None,
                # Swagger UI would otherwise ask the public validator for a badge.
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return guarded(
            get_redoc_html(
                openapi_url="/openapi.json",
                title=f"{title} API",
                redoc_js_url=f"{ASSET_PATH}/redoc.standalone.js",
                redoc_favicon_url=f"{ASSET_PATH}/favicon-32x32.png",
                with_google_fonts=False,
            )
        )

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi_json() -> JSONResponse:
        return JSONResponse(asyncapi())

    @app.get("/asyncapi", include_in_schema=False)
    async def asyncapi_page() -> HTMLResponse:
        return guarded(HTMLResponse(asyncapi_html(title, asyncapi())))

    @app.get(ASSET_PATH + "/{name}", include_in_schema=False)
    async def asset(name: str) -> Any:
        known = ASSETS.get(name)
        if known is None or not (root / known[0]).is_file():
            return problem(404, "Not found", "no such documentation asset", slug="not-found")
        # Versioned by the lock file, not by the name: a day's cache, not a year's.
        return FileResponse(root / known[0], media_type=known[1], headers={"Cache-Control": "public, max-age=86400"})
