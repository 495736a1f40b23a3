"""The generated parts of the integrator's guide (docs/integrators.md): who may call each operation, the audience
ids, the organisation ids and the roles. `harbour docs` writes them between the page's markers; `harbour docs
--check` (and tests/unit/test_integrators_guide.py) fails when the committed page differs from what the code says.

The role matrix is read from each service's own OpenAPI document (``x-harbour-access``, which harbour/http/openapi.py
builds from the service's access table), so the page, the document and the gate cannot disagree.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from harbour.auth import Role
from harbour.organisations import BELGIAN_DISTRICTS, CENTRES, KNOWN_ORGS
from harbour.settings import REPO_ROOT, HarbourSettings

GUIDE = REPO_ROOT / "docs" / "integrators.md"
METHODS = ("get", "post", "put", "patch", "delete")


def default_police_zones() -> list[str]:
    # The default, never this machine's environment: the page is the same wherever it is generated.
    zones: list[str] = HarbourSettings.model_fields["police_zones"].get_default(call_default_factory=True)
    return zones


def openapi_documents() -> dict[str, dict[str, Any]]:
    """Service name -> its OpenAPI document, as the running service serves it at /openapi.json."""
    from harbour.service import create_app
    from services.registry import available, definition

    settings = HarbourSettings()
    return {name: create_app(definition(name), settings=settings, background=False).openapi() for name in available()}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _who(grant: dict[str, Any]) -> tuple[str, str]:
    kinds = ", ".join(f"`{k}`" for k in grant["kinds"])
    roles = "any role" if grant["roles"] is None else ", ".join(f"`{r}`" for r in grant["roles"])
    return kinds, roles


def render_roles(documents: dict[str, dict[str, Any]]) -> str:
    """One table per service: every operation, and each grant that admits a caller to it."""
    from services.registry import definition

    out: list[str] = []
    for name, document in documents.items():
        out.append(f"### {name} (port {definition(name).port})\n")
        out.append(
            "| operation | summary | action | organisation kinds | roles | on what (else `404`) | a former holder |"
        )
        out.append("|---|---|---|---|---|---|---|")
        for path, methods in document["paths"].items():
            for method in METHODS:
                operation = methods.get(method)
                if operation is None:
                    continue
                head = f"`{method.upper()} {path}` | {_cell(operation.get('summary', ''))}"
                access = operation.get("x-harbour-access")
                if access is None:
                    # A route that checks its caller by hand: the document says so in words only.
                    needs = "any, with a valid token" if operation.get("security") else "anyone, no token"
                    said = _cell(operation.get("description", "").strip()) or "—"
                    out.append(f"| {head} | — | {needs} | checked by the endpoint | {said} | — |")
                    continue
                if access.get("public"):  # harbour.access.public: open to anyone by design
                    out.append(f"| {head} | `{access['action']}` | anyone, no token | — | public | — |")
                    continue
                for grant in access["grants"]:
                    kinds, roles = _who(grant)
                    out.append(f"| {head} | `{access['action']}` | {kinds} | {roles} | {_cell(grant['scope'])} "
                               f"| {_cell(grant['former'])} |")  # fmt: skip
        out.append("")
    return "\n".join(out)


def render_audiences() -> str:
    """Every audience id, its kind, and what the production ACLs (deploy/kafka/acls.txt) grant its principal."""
    from harbour_tools import deploy
    from schemas.audiences import all_audiences, audience_kind

    zones = default_police_zones()
    audiences = all_audiences(zones)
    rules = deploy.acl_plan([], audiences)
    out = ["| audience id (the token's `org`) | kind | Kafka topic (read) | consumer groups | Kafka principal "
           "| its password (operator's env file) | HTTP feed |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for audience in audiences:
        principal = deploy.audience_principal(audience)
        mine = [r for r in rules if r.principal == principal]
        topics = ", ".join(f"`{r.name}`" for r in mine if r.resource == "topic" and r.operation == "Read")
        groups = ", ".join(f"`{r.name}*`" for r in mine if r.resource == "group" and r.pattern == "prefixed")
        out.append(f"| `{audience}` | {audience_kind(audience, zones)} | {topics} | {groups} | `{principal}` "
                   f"| `{deploy.password_variable(principal)}` | `GET /feeds/{audience}/milestones` |")  # fmt: skip
    out.append("")
    out.append(f"Local police zones with a topic of their own are a setting (`HARBOUR_POLICE_ZONES`, by default "
               f"{', '.join(f'`{z}`' for z in zones)}): another deployment lists its own.")  # fmt: skip
    return "\n".join(out) + "\n"


def render_organisations() -> str:
    """The organisation ids a token may carry (the `org` claim), by kind, and the roles (the `role` claim)."""
    by_kind: dict[str, list[str]] = {}
    for org, kind in KNOWN_ORGS.items():
        if org.startswith(("prosecution-", "labour-auditorate-")):
            continue  # one row per family below, not 28
        by_kind.setdefault(kind.value, []).append(f"`{org}`")
    districts = ", ".join(BELGIAN_DISTRICTS)
    out = ["| kind | organisation ids |", "|---|---|"]
    out.append(f"| centre | {', '.join(f'`{c}`' for c in CENTRES)} |")
    for kind, orgs in by_kind.items():
        if kind == "centre":
            continue
        if kind == "prosecution":
            orgs = ["`prosecution-<district>`", "`labour-auditorate-<district>`", *orgs]
        if kind == "police":
            orgs = [*orgs, "`police-<zone>` (any local zone)"]
        out.append(f"| {kind} | {', '.join(orgs)} |")
    out.append("| first-line | `ngo-<name>`, `hospital-<name>`, `social-service-<name>` |")
    out.append("")
    out.append(f"Districts: {districts}.")
    out.append("")
    out.append(f"Roles (the token's `role`): {', '.join(f'`{r.value}`' for r in Role)}.")
    return "\n".join(out) + "\n"


@functools.cache
def _roles_today() -> str:
    # The code cannot change within a process: one that checks the guide several times (its test does three)
    # builds every service's app for its OpenAPI document once.
    return render_roles(openapi_documents())


SECTIONS = {
    "organisations": render_organisations,
    "audiences": render_audiences,
    "roles": _roles_today,
}


def _marker(name: str, edge: str) -> str:
    return f"<!-- integrators:{name}:{edge} -->"


def generated(page: str) -> str:
    """``page`` with every generated section replaced by what the code says today."""
    for name, render in SECTIONS.items():
        start, end = _marker(name, "start"), _marker(name, "end")
        pattern = re.compile(re.escape(start) + r"\n.*?" + re.escape(end), flags=re.S)
        found = pattern.search(page)
        if found is None:
            raise ValueError(f"{GUIDE.name} has no section {start} … {end}")
        page = f"{page[: found.start()]}{start}\n{render()}{end}{page[found.end() :]}"
    return page


def write(path: Path = GUIDE) -> bool:
    """Regenerate the sections in place; whether anything changed."""
    page = path.read_text(encoding="utf-8")
    fresh = generated(page)
    if fresh != page:
        path.write_text(fresh, encoding="utf-8")
    return fresh != page


def stale(path: Path = GUIDE) -> bool:
    page = path.read_text(encoding="utf-8")
    return generated(page) != page
