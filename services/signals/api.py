"""The routes: the public pages (server-rendered HTML, not in the OpenAPI document: they are pages, not an API);
``POST /tips``, the tip as JSON with an ``Idempotency-Key`` (what ``tip.js`` sends, public by design:
``services.signals.access``); and, for the centre a tip was routed to, the audited read of what it said, its
erasure and the list of who read it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from harbour.audit import MAX_PAGE, ReadsPage, page_of_reads, read_purpose
from harbour.auth import Caller
from harbour.errors import HarbourError, RuleViolation
from harbour.http.pages import CURSOR_PATTERN
from harbour.service import RuntimeDep, ServiceRuntime
from schemas.catalogue import Language, load_catalogue
from services.signals import commands, pages
from services.signals.access import may, public
from services.signals.commands import (
    MAX_BODY_BYTES,
    TipErasedView,
    TipErasureRequest,
    TipIn,
    TipReceived,
    TipView,
    form_tip_id,
    submit,
    tip_subject,
)
from services.signals.privacy import BUCKET, LIMIT
from services.signals.text import choose, t

router = APIRouter(tags=["signals"])
ASSETS = Path(__file__).parent / "assets"
ASSET_TYPES = {"signals.css": "text/css; charset=utf-8", "tip.js": "text/javascript; charset=utf-8"}
FORM_FIELDS = frozenset({"lang", "key", "description", "postcode", "municipality", "seen_on", "exploitation_types",
                         "signal_ids", "callback", "website"})  # fmt: skip
LISTS = frozenset({"exploitation_types", "signal_ids"})


def language(request: Request, lang: str | None = Query(None, max_length=5)) -> Language:
    return choose(lang, request.headers.get("accept-language"))


@router.get("/", include_in_schema=False)
async def signal_check(lang: Language = Depends(language)) -> Response:
    return pages.check_page(load_catalogue(), lang)


@router.get("/check", include_in_schema=False)
async def signal_result(lang: Language = Depends(language), signal: list[str] = Query([], max_length=64)) -> Response:
    return pages.result_page(load_catalogue(), lang, signal)


@router.get("/professionals", include_in_schema=False)
async def professionals(lang: Language = Depends(language)) -> Response:
    return pages.professionals_page(load_catalogue(), lang)


@router.get("/tip", include_in_schema=False)
async def tip_form(lang: Language = Depends(language), signal: list[str] = Query([], max_length=64)) -> Response:
    known = sorted(set(signal) & load_catalogue().signal_ids())
    # A one-time key per form: the tip's id comes from it, so the same form sent twice is recorded once.
    return pages.tip_page(load_catalogue(), lang, key=uuid.uuid4().hex, values={"signal_ids": known})


@router.get("/tip/thanks", include_in_schema=False)
async def thanks(lang: Language = Depends(language)) -> Response:
    return pages.thanks_page(lang)


@router.get("/assets/{name}", include_in_schema=False)
async def asset(name: str) -> Response:
    if name not in ASSET_TYPES:
        return Response(status_code=404)
    return Response((ASSETS / name).read_bytes(), media_type=ASSET_TYPES[name],
                    headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})  # fmt: skip


def _form_values(raw: bytes) -> dict[str, Any]:
    values: dict[str, Any] = {name: [] for name in LISTS}
    for name, value in parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True):
        if name not in FORM_FIELDS:
            continue
        if name in LISTS:
            values[name].append(value)
        else:
            values[name] = value.strip() if name != "description" else value
    return values


def _errors_of(error: ValidationError, lang: Language) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "description"
        found.setdefault(field, t(f"e_{field}", lang) if f"e_{field}" in pages_errors() else t("e_description", lang))
    return found


def pages_errors() -> set[str]:
    from services.signals.text import T

    return {key for key in T if key.startswith("e_")}


@router.post("/tip", status_code=303, include_in_schema=False, dependencies=[Depends(public("tip.submit"))])
async def tip_post(request: Request, rt: ServiceRuntime = RuntimeDep) -> Response:
    """The form without JavaScript: a bad submission is the form again with its errors (422), and records nothing;
    a good one is recorded and redirected to the thanks page (post/redirect/get)."""
    raw = await _bounded_body(request)
    values = _form_values(raw or b"")
    lang = choose(values.get("lang"), request.headers.get("accept-language"))
    catalogue = load_catalogue()
    key = values.get("key") or uuid.uuid4().hex
    if raw is None:
        return pages.tip_page(catalogue, lang, key=key, errors={"description": t("e_too_large", lang)}, status=413)
    thanks_url = f"/tip/thanks?lang={lang}"
    if values.get("website"):  # the honeypot: a script filled it; it is told it worked, and nothing is kept
        return RedirectResponse(thanks_url, status_code=303)
    fields = {k: (v or None) if k in {"municipality", "seen_on", "callback"} else v for k, v in values.items()
              if k not in {"lang", "key", "website"}}  # fmt: skip
    try:
        body = TipIn.model_validate(fields)
    except ValidationError as invalid:
        return pages.tip_page(catalogue, lang, key=key, values=values, errors=_errors_of(invalid, lang), status=422)
    if not LIMIT.admit(request.scope.get("state", {}).get(BUCKET, "")):
        return pages.tip_page(catalogue, lang, key=key, values=values, errors={"description": t("e_rate", lang)},
                              status=429)  # fmt: skip
    try:
        await submit(rt, body, form_tip_id(key[:255]))
    except RuleViolation as refused:
        field = refused.field if refused.field and f"e_{refused.field}" in pages_errors() else "description"
        return pages.tip_page(catalogue, lang, key=key, values=values, errors={field: t(f"e_{field}", lang)},
                              status=422)  # fmt: skip
    return RedirectResponse(thanks_url, status_code=303)


async def _bounded_body(request: Request) -> bytes | None:
    """The body, or None past MAX_BODY_BYTES (read no further: a huge post costs no memory)."""
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > MAX_BODY_BYTES:
            return None
    return bytes(received)


@router.post("/tips", status_code=201, response_model=TipReceived, summary="Submit an anonymous tip",
             dependencies=[Depends(public("tip.submit"))])  # fmt: skip
async def submit_tip(request: Request, body: TipIn, rt: ServiceRuntime = RuntimeDep) -> Response:
    """An anonymous tip from the public, for the recognised centre of the region of its postcode. Nothing about
    the caller is kept; the description and the callback contact are sealed under the tip's own key."""
    if not LIMIT.admit(request.scope.get("state", {}).get(BUCKET, "")):
        raise TooManyTips()
    return await submit(rt, body, uuid.uuid4().hex)


class TooManyTips(HarbourError):
    status = 429
    title = "Too many tips"
    type_slug = "too-many-tips"

    def __init__(self) -> None:
        super().__init__("this caller sent its share of tips for now: try again later")


@router.get("/tips/{tip_id}", response_model=TipView,
            summary="Read a tip routed to the calling centre, what the tipster said (audited; states why)")  # fmt: skip
async def read_tip(
    tip_id: str,
    purpose: str = Depends(read_purpose),
    caller: Caller = Depends(may("tip.read")),
    rt: ServiceRuntime = RuntimeDep,
) -> TipView:
    """The lead in intake says where and what kind; the tipster's own words and the way to call them back are
    opened here, and the read is recorded with its purpose in the same transaction."""
    return await commands.read_tip(rt, caller, tip_id, purpose)


@router.post("/tips/{tip_id}/erasure", response_model=TipErasedView,
             summary="Erase what a tip said and the way to call the tipster back (destroys the tip's key)")  # fmt: skip
async def erase_tip(
    tip_id: str, body: TipErasureRequest, caller: Caller = Depends(may("tip.erase")),
    rt: ServiceRuntime = RuntimeDep,
) -> Response:  # fmt: skip
    return await commands.erase(rt, caller, tip_id, body)


@router.get("/tips/{tip_id}/reads", response_model=ReadsPage,
            summary="Who read what a tip said, when and why (for the centre's manager), oldest first")  # fmt: skip
async def list_tip_reads(
    tip_id: str,
    after: Annotated[str | None, Query(max_length=100, pattern=CURSOR_PATTERN,
                                       description="`next` of the previous page; absent for the first page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    caller: Caller = Depends(may("tip.reads")),
    rt: ServiceRuntime = RuntimeDep,
) -> ReadsPage:  # fmt: skip
    async with rt.pool.acquire() as conn:
        await commands.own_tip(rt, conn, caller, tip_id)
        return await page_of_reads(conn, tip_subject(tip_id), after=after, limit=limit)
