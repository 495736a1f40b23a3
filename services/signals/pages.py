"""The public pages, rendered on the server: they work with JavaScript off (``tip.js`` only enhances the form),
set no cookie, load nothing from another origin (``CONTENT_SECURITY_POLICY``) and stay far under 100 KB."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from urllib.parse import urlencode

from starlette.responses import HTMLResponse

from schemas.catalogue import LANGUAGES, Catalogue, Language
from schemas.intake import ExploitationType
from services.signals.contacts import contacts
from services.signals.text import NAMES, t

# Only this service's own styles, scripts, images, forms and fetches; no frame, no base, no plugin, no other origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",  # a link followed from here tells the next site nothing
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",  # a shared computer keeps no copy of what was ticked or typed
}


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _switcher(language: Language, path: str, query: Iterable[tuple[str, str]]) -> str:
    kept = [(k, v) for k, v in query if k != "lang"]
    links = []
    for other in LANGUAGES:
        href = f"{path}?{urlencode([*kept, ('lang', other)])}"
        current = ' aria-current="true"' if other == language else ""
        links.append(f'<a href="{_e(href)}" hreflang="{other}" lang="{other}"{current}>{_e(NAMES[other])}</a>')
    return f'<nav aria-label="{_e(t("language", language))}" class="languages">{" ".join(links)}</nav>'


def page(language: Language, title: str, body: str, *, path: str, query: Iterable[tuple[str, str]] = (),
         status: int = 200, script: bool = False) -> HTMLResponse:  # fmt: skip
    scripts = '<script src="/assets/tip.js" defer></script>' if script else ""
    menu = (f'<a href="/?lang={language}">{_e(t("home", language))}</a> '
            f'<a href="/tip?lang={language}">{_e(t("tip_link", language))}</a> '
            f'<a href="/professionals?lang={language}">{_e(t("pro_link", language))}</a>')  # fmt: skip
    html = (
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{_e(title)}</title><link rel="stylesheet" href="/assets/signals.css">{scripts}</head><body>'
        f'<header>{_switcher(language, path, query)}<nav aria-label="menu" class="menu">{menu}</nav></header>'
        f"<main><h1>{_e(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _signals_fieldsets(catalogue: Catalogue, language: Language, ticked: frozenset[str]) -> str:
    parts = []
    for category in catalogue.categories:
        boxes = "".join(
            f'<div class="box"><input type="checkbox" name="signal" id="s-{_e(s.id)}" value="{_e(s.id)}"'
            f"{' checked' if s.id in ticked else ''}>"
            f'<label for="s-{_e(s.id)}">{_e(s.labels.in_(language))}</label></div>'
            for s in category.signals
        )
        parts.append(f"<fieldset><legend>{_e(category.labels.in_(language))}</legend>{boxes}</fieldset>")
    return "".join(parts)


def check_page(catalogue: Catalogue, language: Language) -> HTMLResponse:
    body = (f"<p>{_e(t('intro', language))}</p><p>{_e(t('explain', language))}</p>"
            f'<form method="get" action="/check"><input type="hidden" name="lang" value="{language}">'
            f"{_signals_fieldsets(catalogue, language, frozenset())}"
            f'<button type="submit">{_e(t("check", language))}</button></form>')  # fmt: skip
    return page(language, t("title", language), body, path="/")


def contacts_html(language: Language) -> str:
    items = []
    for contact in contacts():
        number = f' <a href="tel:{_e(contact.number)}">{_e(contact.number)}</a>' if contact.number else ""
        site = f' <a href="{_e(contact.website)}">{_e(contact.website)}</a>' if contact.website else ""
        city = f" ({_e(contact.city)})" if contact.city else ""
        items.append(f'<li class="{_e(contact.kind)}"><strong>{_e(contact.name)}</strong>{city}{number}: '
                     f"{_e(contact.when.in_(language))}{site} "
                     f'<small><a href="{_e(contact.source)}">{_e(t("source", language))}</a></small></li>')  # fmt: skip
    return f'<h2 id="contact">{_e(t("contact", language))}</h2><ol class="contacts">{"".join(items)}</ol>'


def result_page(catalogue: Catalogue, language: Language, ticked: list[str]) -> HTMLResponse:
    known = sorted(set(ticked) & catalogue.signal_ids())
    advice = t("act", language) if len(known) >= 2 else t("watch", language)
    labels = {s.id: s.labels.in_(language) for c in catalogue.categories for s in c.signals}
    listed = "".join(f"<li>{_e(labels[s])}</li>" for s in known)
    tip = "/tip?" + urlencode([("lang", language), *(("signal", s) for s in known)])
    body = (f'<p class="count">{_e(t("ticked", language, n=len(known)))}</p><ul>{listed}</ul>'
            f'<p class="advice"><strong>{_e(advice)}</strong></p><p>{_e(t("explain", language))}</p>'
            f'{contacts_html(language)}<p><a href="{_e(tip)}">{_e(t("tip_link", language))}</a></p>')  # fmt: skip
    return page(language, t("title", language), body, path="/check",
                query=[("signal", s) for s in known])  # fmt: skip


def professionals_page(catalogue: Catalogue, language: Language) -> HTMLResponse:
    categories = "".join(
        f"<h3>{_e(c.labels.in_(language))}</h3><ul>"
        + "".join(f'<li data-signal="{_e(s.id)}">{_e(s.labels.in_(language))}</li>' for s in c.signals)
        + "</ul>"
        for c in catalogue.categories
    )
    body = (f"<p>{_e(t('pro_route', language))}</p>{contacts_html(language)}"
            f'<h2>{_e(t("checklist", language))} ({_e(catalogue.version)})</h2>{categories}')  # fmt: skip
    return page(language, t("pro_title", language), body, path="/professionals")


KIND_SIGNAL = {e: f"exploitation-type.{e.value}" for e in ExploitationType}


def tip_page(catalogue: Catalogue, language: Language, *, key: str, values: Mapping[str, object] | None = None,
             errors: Mapping[str, str] | None = None, status: int = 200) -> HTMLResponse:  # fmt: skip
    values, errors = values or {}, errors or {}
    labels = {s.id: s.labels.in_(language) for c in catalogue.categories for s in c.signals}

    def described(name: str) -> str:
        if name not in errors:
            return ""
        return f' aria-invalid="true" aria-describedby="e-{name}"'

    def error(name: str) -> str:
        return f'<p class="error" id="e-{name}">{_e(errors[name])}</p>' if name in errors else ""

    def text(name: str, label: str, *, kind: str = "text", extra: str = "") -> str:
        value = values.get(name) or ""
        return (f'<div class="field"><label for="{name}">{_e(label)}</label>{error(name)}'
                f'<input type="{kind}" id="{name}" name="{name}" value="{_e(value)}"{extra}{described(name)}>'
                "</div>")  # fmt: skip

    chosen = set(values.get("exploitation_types") or ())  # type: ignore[call-overload]
    kinds = "".join(
        f'<div class="box"><input type="checkbox" name="exploitation_types" id="k-{e.value}" value="{e.value}"'
        f'{" checked" if e.value in chosen else ""}><label for="k-{e.value}">{_e(labels.get(KIND_SIGNAL[e], e.value))}'
        "</label></div>"
        for e in ExploitationType
    )
    signals = "".join(f'<input type="hidden" name="signal_ids" value="{_e(s)}">'
                      for s in values.get("signal_ids") or ())  # type: ignore[attr-defined]  # fmt: skip
    summary = ""
    if errors:
        items = "".join(f'<li><a href="#{_e(name)}">{_e(message)}</a></li>' for name, message in errors.items())
        summary = f'<div class="errors" role="alert"><p>{_e(t("errors", language))}</p><ul>{items}</ul></div>'
    description = _e(values.get("description") or "")
    body = (
        f"{summary}<p>{_e(t('tip_intro', language))}</p>"
        f'<form method="post" action="/tip" id="tip-form" novalidate>'
        f'<input type="hidden" name="lang" value="{language}"><input type="hidden" name="key" value="{_e(key)}">'
        f"{signals}"
        f'<div class="field"><label for="description">{_e(t("what", language))}</label>{error("description")}'
        f'<textarea id="description" name="description" rows="5" maxlength="2000" required{described("description")}>'
        f"{description}</textarea></div>"
        + text("postcode", t("postcode", language), extra=' inputmode="numeric" maxlength="4" required')
        + text("municipality", t("municipality", language), extra=' maxlength="80"')
        + text("seen_on", t("when", language), kind="date")
        + f"<fieldset><legend>{_e(t('kinds', language))}</legend>{error('exploitation_types')}{kinds}</fieldset>"
        + text("callback", t("callback", language), extra=' maxlength="200" autocomplete="off"')
        # The honeypot: hidden from people (and from screen readers), filled in only by a form-filling script.
        + f'<div class="hp"><label for="website">{_e(t("honeypot", language))}</label>'
        '<input type="text" id="website" name="website" tabindex="-1" autocomplete="off"></div>'
        f'<button type="submit">{_e(t("send", language))}</button></form>'
    )
    return page(language, t("tip_title", language), body, path="/tip", status=status, script=True)


def thanks_page(language: Language) -> HTMLResponse:
    body = f"<p>{_e(t('thanks', language))}</p>{contacts_html(language)}"
    return page(language, t("thanks_title", language), body, path="/tip/thanks")
