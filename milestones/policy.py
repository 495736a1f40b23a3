"""Reading the milestone policy table (``schemas.milestones.POLICY``): pure functions, no I/O.

Given a decoded event and what is known about its case, :func:`address` says which audiences receive which
milestone with which fields. The route (``milestones.route``) adds the pseudonyms and a relay publishes; the unit
tests run this directly over generated case histories.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from harbour.events import DomainEvent
from harbour.settings import get_settings
from schemas.audiences import (
    CENTRES,
    GUARDIANSHIP_SERVICE,
    IMMIGRATION_OFFICE,
    INSPECTORATES,
    POLICE_FEDERAL,
    PROSECUTION_OFFICES,
    police_zones,
)
from schemas.milestones import (
    POLICY,
    CaseFacts,
    Derived,
    FieldSpec,
    FieldValue,
    Fixed,
    From,
    FromFacts,
    MilestoneType,
    Role,
    Rule,
    Source,
)


@dataclass(frozen=True)
class Addressed:
    """One milestone for one audience, before the route adds the pseudonym and the ids."""

    audience: str
    roles: tuple[Role, ...]
    milestone: MilestoneType
    source: str  # the service whose event it reports
    occurred_on: date
    file_number: str | None
    data: dict[str, FieldValue]


@dataclass(frozen=True)
class Addressing:
    addressed: list[Addressed]
    # Roles the case has but no audience topic serves (an NGO referrer, a police zone not configured).
    unrouted: list[Role]


def plain(value: object) -> FieldValue:
    """A field value as a milestone carries it: a code list's value, a calendar day, a number or a flag."""
    if isinstance(value, Enum):
        code: FieldValue = value.value  # the code lists of schemas/ are str enums
        return code
    if isinstance(value, datetime):  # a datetime is a date too: milestones carry calendar days only
        return value.date()
    if value is None or isinstance(value, str | int | bool | date):
        return value
    raise TypeError(f"a milestone field cannot carry a {type(value).__name__}")


def _dig(event: DomainEvent, path: str) -> Any:
    # A dotted path into the event's fields (their types are the schema's, known only at run time).
    value: Any = event
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _matches(source: Source, event: DomainEvent) -> bool:
    return all(plain(_dig(event, path)) in allowed for path, allowed in source.when.items())


def match(event: DomainEvent) -> tuple[Rule, Source] | None:
    """The rule and source a decoded event falls under, or None (a test checks the table is unambiguous)."""
    for rule in POLICY:
        for source in rule.sources:
            if source.event_type == event.event_type and _matches(source, event):
                return rule, source
    return None


def source_services() -> frozenset[str]:
    return frozenset(s.service for r in POLICY for s in r.sources)


def source_event_types(service: str | None = None) -> frozenset[str]:
    """The event types that may produce milestones (those of one service, when given)."""
    return frozenset(s.event_type for r in POLICY for s in r.sources if service in (None, s.service))


def referrer_audiences(zones: Iterable[str] | None = None) -> tuple[str, ...]:
    # None: the configured zones (the schemas read no configuration; the runtime does).
    return (POLICE_FEDERAL, *police_zones(get_settings().police_zones if zones is None else zones), *INSPECTORATES)


def role_audience(role: Role, facts: CaseFacts, zones: Iterable[str] | None = None) -> str | None:
    """Who plays ``role`` in a case, or None when nobody does (yet): e.g. no prosecution file assigned."""
    match role:
        case Role.OWNING_CENTRE:
            return facts.owning_centre if facts.owning_centre in CENTRES else None
        case Role.REFERRER:
            return facts.referring_org if facts.referring_org in referrer_audiences(zones) else None
        case Role.PROSECUTION:
            return facts.prosecution_office if facts.prosecution_office in PROSECUTION_OFFICES else None
        case Role.IMMIGRATION_OFFICE:
            return IMMIGRATION_OFFICE if facts.immigration_involved else None
        case Role.GUARDIANSHIP_SERVICE:
            return GUARDIANSHIP_SERVICE if facts.minor else None


def _named(role: Role, facts: CaseFacts) -> str | None:
    """The organisation the case's facts name for ``role``, whether or not it is an audience."""
    return {Role.OWNING_CENTRE: facts.owning_centre, Role.REFERRER: facts.referring_org,
            Role.PROSECUTION: facts.prosecution_office}.get(role)  # fmt: skip


def role_audiences(role: Role, zones: Iterable[str] | None = None) -> tuple[str, ...]:
    """Every audience that may ever play ``role`` (the topics a publishing service must be allowed to write)."""
    return {
        Role.OWNING_CENTRE: CENTRES,
        Role.REFERRER: referrer_audiences(zones),
        Role.PROSECUTION: PROSECUTION_OFFICES,
        Role.IMMIGRATION_OFFICE: (IMMIGRATION_OFFICE,),
        Role.GUARDIANSHIP_SERVICE: (GUARDIANSHIP_SERVICE,),
    }[role]


def published_audiences(service: str, zones: Iterable[str] | None = None) -> list[str]:
    """The audiences a service's events can reach under the policy, in a stable order."""
    roles = {role for r in POLICY if any(s.service == service for s in r.sources) for role in r.grants}
    return sorted({a for role in roles for a in role_audiences(role, zones)})


def _file_number(role: Role, facts: CaseFacts) -> str | None:
    # An audience's own file number, and only its own: the police never see the prosecution's, nor back.
    return {Role.REFERRER: facts.referrer_file_number, Role.PROSECUTION: facts.prosecution_file_number}.get(role)


def _value(spec: FieldSpec, event: DomainEvent, facts: CaseFacts) -> FieldValue:
    match spec:
        case From(path):
            return plain(_dig(event, path))
        case Fixed(value):
            return value
        case Derived():
            return plain(spec.compute(event))
        case FromFacts(fact):
            return plain(getattr(facts, fact))


def address(event: DomainEvent, facts: CaseFacts, zones: Iterable[str] | None = None) -> Addressing:
    """The milestones a decoded event gives, one per audience, each with only the fields its roles grant."""
    found = match(event)
    if found is None:
        return Addressing([], [])
    rule, source = found
    occurred_on = plain(_dig(event, source.occurred_on))
    assert isinstance(occurred_on, date)
    per_audience: dict[str, list[Role]] = {}
    unrouted: list[Role] = []
    for role in rule.grants:
        audience = role_audience(role, facts, zones)
        if audience is not None:
            per_audience.setdefault(audience, []).append(role)
        elif _named(role, facts) is not None:
            # The case names an organisation for the role that has no audience (an NGO referrer, a zone without
            # a topic, an office id from before the registry was checked): counted, never silently dropped.
            unrouted.append(role)
    addressed = []
    for audience, roles in per_audience.items():
        # Two roles on one audience (never today) would get the union of their grants, nothing more.
        granted = sorted(set().union(*(rule.grants[r] for r in roles)))
        numbers = [n for r in roles if (n := _file_number(r, facts)) is not None]
        data = {name: _value(source.fields[name], event, facts) for name in granted}
        addressed.append(Addressed(audience, tuple(roles), rule.milestone, source.service, occurred_on,
                                   numbers[0] if numbers else None, data))  # fmt: skip
    return Addressing(addressed, unrouted)


# ---- the table as reviewers read it ----------------------------------------------------------------------


def _describe_source(source: Source) -> str:
    condition = "".join(f" ({k} = {' / '.join(sorted(v))})" for k, v in source.when.items())
    return f"{source.service} `{source.event_type}`{condition}"


def _describe_field(rule: Rule, name: str) -> str:
    specs = {s.fields[name] for s in rule.sources}
    if all(isinstance(s, From) and s.path == name for s in specs):
        return name
    return f"{name} ← {' / '.join(sorted(s.describe() for s in specs))}"


def render_markdown() -> str:
    """The policy as a Markdown table (docs/milestone-policy.md, between the milestone-policy markers)."""
    lines = ["| milestone | from | audience role | fields |", "|---|---|---|---|"]
    for rule in POLICY:
        sources = "<br>".join(_describe_source(s) for s in rule.sources)
        for role, granted in rule.grants.items():
            described = ", ".join(_describe_field(rule, name) for name in sorted(granted))
            number = " + its own file number" if role in (Role.REFERRER, Role.PROSECUTION) else ""
            lines.append(f"| {rule.milestone.value} | {sources} | {role.value} | {described}{number} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # prints the section for docs/milestone-policy.md
    print(render_markdown(), end="")
