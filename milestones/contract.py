"""The JSON Schema of each milestone type, generated from the policy table (``schemas.milestones.POLICY``).

``Milestone`` (schemas/milestones.py) is the one model every milestone is built with; its ``data`` is open
because which fields it carries depends on the milestone type and on the audience's role in the case. A consumer
codes against this instead: one closed schema per type, with one variant per role the policy grants the type to
(told apart by the audience, whose role is fixed: a centre is always the owning centre, a prosecutor's office the
prosecution...), each with exactly the fields the policy grants that role, all of them present (the route
writes every granted field, ``null`` where the event has none). The field types come from the source events'
own schemas, narrowed where the policy narrows them (a ``when`` condition, a fixed value).

Pure functions, no I/O: ``harbour schemas export`` writes the result under schemas/jsonschema/ and into each
AsyncAPI document; a unit test keeps it equal to the policy.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache
from typing import Any

# The source events' classes register themselves on import: their schemas give the fields' types.
import schemas.housing
import schemas.intake
import schemas.legal
import schemas.tracks  # noqa: F401
from harbour.events import EVENT_TYPES
from schemas.audiences import (
    CENTRES,
    GUARDIANSHIP_SERVICE,
    IMMIGRATION_OFFICE,
    INSPECTORATES,
    POLICE_FEDERAL,
    POLICE_ZONE_PATTERN,
    PROSECUTION_OFFICES,
)
from schemas.milestones import (
    POLICY,
    Derived,
    FieldSpec,
    Fixed,
    From,
    FromFacts,
    Milestone,
    MilestoneType,
    Role,
    Rule,
    Source,
)

JSON = dict[str, Any]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# No host publishes the contracts: a URN names each schema without pretending to a URL that would not answer.
ID_PREFIX = "urn:harbour:jsonschema:"
MILESTONE_SCHEMA_VERSION = 1

# The roles that carry the audience's own file number (docs/milestone-policy.md); the others never have one.
NUMBERED_ROLES = frozenset({Role.REFERRER, Role.PROSECUTION})

# The case facts a milestone may name (``FromFacts``): organisation ids, never personal data.
FACT_SCHEMAS: Mapping[str, JSON] = {
    "owning_centre": {"anyOf": [{"type": "string", "enum": list(CENTRES)}, {"type": "null"}],
                      "description": "the centre guiding the person (null while none is known)"},
}  # fmt: skip


def schema_id(file_name: str) -> str:
    return ID_PREFIX + file_name


def file_name(rule: Rule) -> str:
    return f"Milestone.{rule.milestone.value}.v{MILESTONE_SCHEMA_VERSION}.json"


def audience_schema(role: Role) -> JSON:
    """The audiences that play ``role`` (the configured police zones by their pattern: they vary per deployment)."""
    fixed: dict[Role, tuple[str, ...]] = {
        Role.OWNING_CENTRE: CENTRES,
        Role.PROSECUTION: PROSECUTION_OFFICES,
        Role.IMMIGRATION_OFFICE: (IMMIGRATION_OFFICE,),
        Role.GUARDIANSHIP_SERVICE: (GUARDIANSHIP_SERVICE,),
    }
    if role is Role.REFERRER:
        return {"anyOf": [{"type": "string", "enum": [POLICE_FEDERAL, *INSPECTORATES]},
                          {"type": "string", "pattern": f"^{POLICE_ZONE_PATTERN}$"}]}  # fmt: skip
    return {"type": "string", "enum": list(fixed[role])}


def _inline(schema: Any, defs: Mapping[str, Any]) -> Any:
    """Every local ``$ref`` replaced by its definition, titles dropped: a schema that stands on its own."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inline(defs[schema["$ref"].removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k not in ("title", "default")}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


def _as_day(schema: Any) -> Any:
    # A milestone carries calendar days only: a datetime field of the event becomes its date (policy.plain).
    if isinstance(schema, dict):
        if schema.get("format") == "date-time":
            return {**schema, "format": "date"}
        return {k: _as_day(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_as_day(v) for v in schema]
    return schema


@cache
def _event_schema(event_type: str) -> JSON:
    schema: JSON = EVENT_TYPES.cls_for(event_type).model_json_schema()
    return schema


def _event_field(source: Source, path: str) -> JSON:
    """The schema of one (dotted) field of the source event, as the route copies it into a milestone."""
    event_schema = _event_schema(source.event_type)
    defs = event_schema.get("$defs", {})
    current: Any = event_schema
    for part in path.split("."):
        current = _inline(current, defs)["properties"][part]
    field: JSON = _as_day(_inline(current, defs))
    if path in source.when:
        # The rule matched only these values: the milestone can carry no other.
        field = {"type": "string", "enum": sorted(source.when[path])}
    return field


def _spec_schema(source: Source, spec: FieldSpec) -> JSON:
    match spec:
        case From(path):
            return _event_field(source, path)
        case Fixed(value):
            return {"const": value}
        case Derived():
            return dict(spec.json_schema)
        case FromFacts(fact):
            return dict(FACT_SCHEMAS[fact])  # a new fact without a schema fails the export, not a consumer


def _is_closed_string(schema: JSON) -> bool:
    return (
        set(schema) <= {"type", "enum", "const", "description"}
        and ("enum" in schema or "const" in schema)
        and all(isinstance(v, str) for v in schema.get("enum", [schema.get("const")]))
    )


def field_schema(rule: Rule, name: str) -> JSON:
    """One granted field: the union over the rule's sources (housing-secured has two)."""
    found: list[JSON] = []
    for source in rule.sources:
        schema = _spec_schema(source, source.fields[name])
        if schema not in found:
            found.append(schema)
    if len(found) == 1:
        return found[0]
    if all(_is_closed_string(s) for s in found):
        values = sorted({v for s in found for v in s.get("enum", [s.get("const")])})
        return {"type": "string", "enum": values}
    return {"anyOf": found}


def role_variant(rule: Rule, role: Role) -> JSON:
    """What one role receives of a milestone type: its audiences, its file number (or none), its closed data."""
    granted = sorted(rule.grants[role])
    data = {
        "type": "object",
        "properties": {name: field_schema(rule, name) for name in granted},
        "required": granted,
        "additionalProperties": False,
    }
    numbered = role in NUMBERED_ROLES
    return {
        "title": role.value,
        "description": f"as the {role.value} receives it",
        "properties": {
            "audience": audience_schema(role),
            "file_number": {"type": ["string", "null"]} if numbered else {"type": "null"},
            "data": data,
        },
    }


def _envelope() -> JSON:
    """The fields every milestone has, from the one model the route builds them with (Milestone)."""
    model = Milestone.model_json_schema()
    properties: JSON = _inline(model["properties"], model.get("$defs", {}))
    return properties


def milestone_schema(rule: Rule) -> JSON:
    """The closed schema of one milestone type (a fresh copy: callers may change theirs)."""
    return copy.deepcopy(_milestone_schema(rule.milestone))


@cache
def _milestone_schema(milestone: MilestoneType) -> JSON:
    [rule] = [r for r in POLICY if r.milestone is milestone]
    name = file_name(rule)
    services = sorted({s.service for s in rule.sources})
    properties = _envelope()
    properties["milestone"] = {"const": rule.milestone.value}
    properties["source"] = {"const": services[0]} if len(services) == 1 else {"type": "string", "enum": services}
    properties["data"] = {"type": "object", "description": "only the fields the policy grants the audience's role"}
    sources = "; ".join(f"{s.service} {s.event_type}" for s in rule.sources)
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": schema_id(name),
        "title": f"{rule.milestone.value} milestone",
        "description": (
            f"The {rule.milestone.value} milestone (from {sources}) as each audience receives it on "
            "milestones.<audience>.v1: one variant per audience role, each with exactly the data the policy "
            "grants it (docs/milestone-policy.md)."
        ),
        "x-milestone-type": rule.milestone.value,
        "x-schema-version": MILESTONE_SCHEMA_VERSION,
        "type": "object",
        "properties": properties,
        # The route writes every field (file_number and data included, null or empty where there is nothing).
        "required": sorted(properties),
        "additionalProperties": False,
        "oneOf": [role_variant(rule, role) for role in rule.grants],
    }


def milestone_schemas() -> dict[str, JSON]:
    """File name → the closed JSON Schema of each milestone type, in policy order."""
    return {file_name(rule): milestone_schema(rule) for rule in POLICY}


def types_for(role: Role, service: str | None = None) -> list[Rule]:
    """The rules whose milestones reach ``role`` (from ``service``'s events only, when given)."""
    return [r for r in POLICY if role in r.grants and (service is None or any(s.service == service for s in r.sources))]
