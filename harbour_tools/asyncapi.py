"""Each service's AsyncAPI 3 document, generated from its definition, the topic table and the milestone policy.

What a consumer needs to code against a topic without asking: one channel per topic, one message per event or
milestone type it carries (payload, headers and Kafka key), which service sends to it and which consumer group
receives from it, and how a client authenticates. FastStream's own document (``ServiceRuntime.asyncapi``) knows
only the handlers FastStream runs: the relay publishes outside it, so the milestone topics had no sender and a
``null`` payload there. This one is written from what the platform really sends.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic.json_schema import models_json_schema

from harbour.events import DomainEvent
from harbour.kafka.consumer import Subscription
from harbour.kafka.topics import TopicSpec, topic_table
from harbour.service import ServiceDefinition
from harbour.settings import HarbourSettings
from harbour.store.envelope import OPTIONAL_HEADERS, WIRE_HEADERS
from milestones.contract import milestone_schema, types_for
from milestones.policy import role_audiences
from milestones.topics import AUDIENCE_PARTITIONS
from schemas.audiences import INSPECTORATES, POLICE_FEDERAL, all_audiences, milestone_topic
from schemas.milestones import Role, Rule

JSON = dict[str, Any]

KAFKA_BINDING = "0.5.0"
MILESTONE_TOPIC_KEY = "audience case reference"

# What each envelope header holds (harbour/store/envelope.py WIRE_HEADERS sends them, in this order).
_HEADER_DOC = {
    "event_id": ("uuid", "the event's id: consumers deduplicate by it"),
    "event_type": (None, "the event type: which payload schema the value follows"),
    "schema_version": (None, "the payload's schema version (upcast by platform readers)"),
    "stream_id": (None, "the stream the event was appended to (<stream type>-<id>)"),
    "stream_type": (None, "the aggregate kind"),
    "stream_version": (None, "the event's version within its stream (1, 2, ...)"),
    "global_position": (None, "its position in the publishing service's store"),
    "tx_id": (None, "the id of the transaction that stored it"),
    "case_id": (None, "what the record is keyed by (see the message's Kafka key)"),
    "jurisdiction": (None, "the jurisdiction of the case (BE)"),
    "occurred_at": ("date-time", "when it happened"),
    "recorded_at": ("date-time", "when it was stored"),
    "content-type": (None, "application/json"),
    "actor_org": (None, "the organisation whose caller caused it"),
    "actor_role": (None, "that caller's role"),
    "actor_user": (None, "that caller's user id (a token subject)"),
    "correlation_id": ("uuid", "the request it came from"),
    "causation_id": ("uuid", "the event or message that caused it"),
    "traceparent": (None, "W3C trace context of the relay's publish span"),
}
# What the relay adds to every record it publishes, besides the record's own headers.
_RELAY_HEADERS = {"traceparent": "W3C trace context of the relay's publish span",
                  "tracestate": "W3C trace state, when the trace has one",
                  "relay_epoch": "<relay>@<epoch>: when the relay that published the record last published its store "
                                 "again (microseconds since 1970; 0: never). A higher epoch than the one read before "
                                 "on a partition means its log was published again: read it again from its start "
                                 "(deduplicating by id) rather than go on from an offset"}  # fmt: skip


def _string(description: str, fmt: str | None = None, **extra: Any) -> JSON:
    schema: JSON = {"type": "string", "description": description, **extra}
    if fmt:
        schema["format"] = fmt
    return schema


ENVELOPE_HEADERS = "EnvelopeHeaders"
MILESTONE_HEADERS = "MilestoneHeaders"


def envelope_headers() -> JSON:
    """Every domain event's headers (harbour/store/envelope.py WIRE_HEADERS), shared by its messages."""
    properties: JSON = {}
    for name, _ in WIRE_HEADERS:
        fmt, description = _HEADER_DOC[name]
        properties[name] = _string(description, fmt)
    properties["content-type"]["const"] = "application/json"
    properties["tracestate"] = _string(_RELAY_HEADERS["tracestate"])
    properties["relay_epoch"] = _string(_RELAY_HEADERS["relay_epoch"])
    required = [name for name, _ in WIRE_HEADERS if name not in OPTIONAL_HEADERS]
    return {"type": "object", "description": "Kafka headers (UTF-8 strings) of a domain event; the event type "
            "travels here", "properties": properties, "required": required}  # fmt: skip


def milestone_envelope_headers() -> JSON:
    # milestones/route.py writes these; the relay adds its trace context. Never a case id, stream id or actor.
    return {
        "type": "object",
        "description": "Kafka headers (UTF-8 strings) of a milestone; its type travels here. Never a case, stream "
        "or actor",
        "properties": {
            "milestone": _string("the milestone type: which payload schema the value follows"),
            "milestone_id": _string("the milestone's id (as in the value): consumers deduplicate by it", "uuid"),
            "audience": _string("the audience, the topic's own"),
            "source": _string("the service whose event it reports"),
            "content-type": _string("application/json", const="application/json"),
            **{name: _string(text) for name, text in _RELAY_HEADERS.items()},
        },
        "required": ["milestone", "milestone_id", "audience", "source", "content-type"],
    }


def event_headers(event_cls: type[DomainEvent]) -> JSON:
    """The shared envelope headers, with this event's own type and version."""
    return {"allOf": [{"$ref": f"#/components/schemas/{ENVELOPE_HEADERS}"},
                      {"properties": {"event_type": {"const": event_cls.event_type},
                                      "schema_version": {"const": str(event_cls.schema_version)}}}]}  # fmt: skip


def milestone_headers(rule: Rule) -> JSON:
    sources = sorted({s.service for s in rule.sources})
    return {"allOf": [{"$ref": f"#/components/schemas/{MILESTONE_HEADERS}"},
                      {"properties": {"milestone": {"const": rule.milestone.value},
                                      "source": {"enum": sources}}}]}  # fmt: skip


def message_key(event_cls: type[DomainEvent], topic_key: str) -> str:
    """What keys an event type's records: its schema module's ``message_key`` where it has one, else the topic's."""
    key_of = getattr(importlib.import_module(event_cls.__module__), "message_key", None)
    own = key_of(event_cls) if key_of is not None else None
    return own or topic_key


def event_message_id(event_cls: type[DomainEvent]) -> str:
    return f"{event_cls.event_type}.v{event_cls.schema_version}"


def milestone_message_id(rule: Rule) -> str:
    return f"Milestone.{rule.milestone.value}.v1"


def _key_binding(description: str) -> JSON:
    return {"kafka": {"bindingVersion": KAFKA_BINDING, "key": {"type": "string", "description": description}}}


def _event_message(event_cls: type[DomainEvent], topic_key: str) -> JSON:
    doc = (event_cls.__doc__ or "").strip()
    return {
        "name": event_cls.event_type,
        "title": f"{event_cls.event_type} v{event_cls.schema_version}",
        "summary": doc.splitlines()[0] if doc else event_cls.event_type,
        "contentType": "application/json",
        "headers": event_headers(event_cls),
        "payload": {},  # set once every event of the document has its schema (pydantic names them apart)
        "correlationId": {"location": "$message.header#/correlation_id"},
        "bindings": _key_binding(message_key(event_cls, topic_key)),
    }


def _milestone_message(rule: Rule) -> JSON:
    return {
        "name": rule.milestone.value,
        "title": f"{rule.milestone.value} milestone",
        "summary": f"The {rule.milestone.value} milestone, with the fields the policy grants the audience's role",
        "contentType": "application/json",
        "headers": milestone_headers(rule),
        "payload": {"$ref": f"#/components/schemas/{milestone_message_id(rule)}"},
        "bindings": _key_binding(f"{MILESTONE_TOPIC_KEY}: the value's case_ref, a pseudonym of this audience alone"),
    }


def _role_of(audience: str, zones: Iterable[str]) -> Role:
    for role in Role:
        if audience in role_audiences(role, zones):
            return role
    raise LookupError(f"no role for audience {audience!r}")


def _servers() -> JSON:
    scram = [{"$ref": "#/components/securitySchemes/scram"}]
    return {
        "development": {"host": "kafka:9092", "protocol": "kafka", "description":
                        "The development broker (`make run`, `make test`): plaintext, no authentication."},
        "production": {"host": "kafka-1:9092", "protocol": "kafka", "security": scram, "description":
                       "The production cluster (docker-compose.yml: kafka-1, kafka-2, kafka-3 on port 9092) on the "
                       "stack's internal network: SASL_PLAINTEXT with SCRAM-SHA-512, one principal per service "
                       "and per audience, grants by ACL (deploy/kafka/acls.txt)."},
        "office": {"host": "{listener}", "protocol": "kafka-secure", "security": scram,
                   "variables": {"listener": {"description": "host:port of the SASL_SSL listener a deployment gives "
                                              "offices (certificates per deployment; not in docker-compose.yml)"}},
                   "description": "How an office outside the stack consumes its own milestone topic: SASL_SSL "
                                  "with SCRAM-SHA-512 as aud-<audience> (deploy/README.md, Exposing Kafka to an "
                                  "office). Its ACLs grant read on milestones.<audience>.v1 only, to consumer "
                                  "groups named <audience>.<anything> (deploy/kafka/acls.txt)."},
    }  # fmt: skip


def _security_schemes() -> JSON:
    return {"scram": {"type": "scramSha512", "description":
                      "SASL SCRAM-SHA-512 (HARBOUR_KAFKA_SASL_MECHANISM); the username is the principal "
                      "(svc-<service>, aud-<audience>), its password is set per deployment."}}  # fmt: skip


def _channel(spec: TopicSpec | None, address: str, messages: Mapping[str, str], servers: Sequence[str]) -> JSON:
    binding: JSON = {"bindingVersion": KAFKA_BINDING, "topic": address}
    if spec is not None:
        binding["partitions"] = spec.partitions
    return {
        "address": address,
        "description": spec.description if spec and spec.description else address,
        "messages": {name: {"$ref": f"#/components/messages/{ref}"} for name, ref in messages.items()},
        "servers": [{"$ref": f"#/servers/{s}"} for s in servers],
        "bindings": {"kafka": binding},
    }


def milestone_channel_id(role: Role) -> str:
    return f"milestones.{role.value}"


def _milestone_channel(role: Role, zones: Sequence[str], messages: Mapping[str, str], servers: Sequence[str]) -> JSON:
    """The audience topics of one role: ``milestones.{audience}.v1``, the audience a parameter."""
    audience: JSON = {"description": f"an audience that plays the {role.value} role: the topic is its own (its ACLs "
                                     "let it read this topic only)"}  # fmt: skip
    if role is Role.REFERRER:
        # The local police zones are configured per deployment (HARBOUR_POLICE_ZONES): named by example only.
        audience["description"] += "; the local police zones a deployment configures are police-<zone>"
        audience["examples"] = [POLICE_FEDERAL, *INSPECTORATES, "police-antwerp"]
    else:
        audience["enum"] = list(role_audiences(role, zones))
    return {
        "address": "milestones.{audience}.v1",
        "title": f"milestones for the {role.value}",
        "description": f"Each {role.value}'s own milestone topic, keyed by its case reference: exactly the milestone "
        f"types the policy grants the {role.value}, with the fields it grants it (docs/milestone-policy.md).",
        "parameters": {"audience": audience},
        "messages": {name: {"$ref": f"#/components/messages/{ref}"} for name, ref in messages.items()},
        "servers": [{"$ref": f"#/servers/{s}"} for s in servers],
        "bindings": {"kafka": {"bindingVersion": KAFKA_BINDING, "partitions": AUDIENCE_PARTITIONS}},
    }


def _operation(action: str, channel: str, messages: Iterable[str], summary: str, group: str | None = None) -> JSON:
    operation: JSON = {
        "action": action,
        "summary": summary,
        "channel": {"$ref": f"#/channels/{channel}"},
        "messages": [{"$ref": f"#/channels/{channel}/messages/{m}"} for m in messages],
    }
    if group is not None:
        operation["bindings"] = {"kafka": {"bindingVersion": KAFKA_BINDING,
                                           "groupId": {"type": "string", "enum": [group]}}}  # fmt: skip
    return operation


def document(spec: ServiceDefinition, definitions: Sequence[ServiceDefinition], settings: HarbourSettings) -> JSON:
    """The AsyncAPI 3 document of one service."""
    zones = tuple(settings.police_zones)
    tables = {t.name: t for t in topic_table()}
    published: dict[str, list[type[DomainEvent]]] = {
        d.domain_topic: list(d.published_events) for d in definitions if d.domain_topic
    }
    schemas: JSON = {}
    messages: JSON = {}
    channels: JSON = {}
    operations: JSON = {}
    internal = ["development", "production"]
    external = [*internal, "office"]

    events: dict[str, type[DomainEvent]] = {}

    def add_event(event_cls: type[DomainEvent], topic: str) -> str:
        ref = event_message_id(event_cls)
        schemas[ENVELOPE_HEADERS] = envelope_headers()
        events[ref] = event_cls
        messages[ref] = _event_message(event_cls, tables[topic].key)
        return ref

    def add_milestone(rule: Rule) -> str:
        ref = milestone_message_id(rule)
        schemas[MILESTONE_HEADERS] = milestone_envelope_headers()
        schemas[ref] = milestone_schema(rule)
        messages[ref] = _milestone_message(rule)
        return ref

    def channel(topic: str, refs: Mapping[str, str], servers: Sequence[str]) -> str:
        if topic in channels:
            channels[topic]["messages"].update(
                {name: {"$ref": f"#/components/messages/{ref}"} for name, ref in refs.items()}
            )
        else:
            channels[topic] = _channel(tables.get(topic), topic, refs, servers)
        return topic

    # What this service sends: its domain topic, through its relay.
    if spec.domain_topic:
        refs = {event_message_id(e): add_event(e, spec.domain_topic) for e in spec.published_events}
        channel(spec.domain_topic, refs, internal)
        operations[f"send-{spec.domain_topic}"] = _operation(
            "send", spec.domain_topic, refs, f"{spec.name}'s relay publishes every stored event, in store order"
        )

    # ... and the milestones its events give, through its milestone relay: one topic per audience, one channel per
    # audience role (the audiences of a role receive the same types; a channel per topic made documents of 40).
    def role_channel(role: Role, rules: Sequence[Rule]) -> tuple[str, dict[str, str]]:
        refs = {milestone_message_id(r): add_milestone(r) for r in rules}
        name = milestone_channel_id(role)
        if name in channels:
            channels[name]["messages"].update({n: {"$ref": f"#/components/messages/{r}"} for n, r in refs.items()})
        else:
            channels[name] = _milestone_channel(role, zones, refs, external)
        return name, refs

    if spec.milestone_route is not None:
        for role in Role:
            if rules := types_for(role, spec.name):
                name, refs = role_channel(role, rules)
                operations[f"send-{name}"] = _operation(
                    "send", name, refs, f"{spec.name}'s milestone relay publishes to each {role.value}'s own topic"
                )
    # What it receives: one operation per consumer group (and audience role, for milestone topics).
    audiences = set(all_audiences(zones))
    for sub in spec.subscriptions:
        audience = sub.topic.removeprefix("milestones.").removesuffix(".v1")
        if sub.topic == milestone_topic(audience) and audience in audiences:
            role = _role_of(audience, zones)
            name, refs = role_channel(role, types_for(role))
            operations[f"receive-{sub.consumer}:{name}"] = _operation(
                "receive", name, refs, f"{sub.description or sub.consumer} (every {role.value}'s topic)",
                group=sub.consumer,
            )  # fmt: skip
            continue
        refs = _received(sub, published, add_event)
        channel(sub.topic, refs, internal)
        operations[f"receive-{sub.consumer}:{sub.topic}"] = _operation(
            "receive", sub.topic, refs, sub.description or f"consumer group {sub.consumer}", group=sub.consumer
        )
    # All at once: pydantic names two different models of one name apart (two services' Urgency).
    found, top = models_json_schema([(e, "validation") for e in events.values()],
                                    ref_template="#/components/schemas/{model}")  # fmt: skip
    schemas.update(top.get("$defs", {}))
    for ref, event_cls in events.items():
        messages[ref]["payload"] = found[(event_cls, "validation")]
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"Harbour {spec.title}",
            "description": spec.description,
            "version": settings.service_version,
        },
        "defaultContentType": "application/json",
        "servers": _servers(),
        "channels": dict(sorted(channels.items())),
        "operations": dict(sorted(operations.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "messages": dict(sorted(messages.items())),
            "securitySchemes": _security_schemes(),
        },
    }


def _received(
    sub: Subscription, published: Mapping[str, Sequence[type[DomainEvent]]], add_event: Any
) -> dict[str, str]:
    if sub.topic not in published:
        raise LookupError(f"{sub.consumer} reads {sub.topic}, which no service publishes")
    handled = [e for e in published[sub.topic] if sub.event_types is None or e.event_type in sub.event_types]
    return {event_message_id(e): add_event(e, sub.topic) for e in handled}
