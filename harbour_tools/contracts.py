"""The published language, exported and guarded: JSON Schema of every event and milestone, each service's
AsyncAPI document, and a lock of topics and keys. `harbour schemas export` writes them; `harbour schemas check`
compares the working tree with what is committed and fails on a breaking change."""

from __future__ import annotations

import importlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harbour.events import EVENT_TYPES
from harbour.settings import REPO_ROOT

SCHEMAS_DIR = REPO_ROOT / "schemas"
CONTRACT_MODULES = (
    "schemas.intake",
    "schemas.legal",
    "schemas.tracks",
    "schemas.housing",
    "schemas.milestones",
    "schemas.statistics",
    "schemas.signals",
)


def _load_contracts() -> None:
    for module in CONTRACT_MODULES:
        importlib.import_module(module)


def _identified(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A schema with its dialect and its own id first, so a consumer's validator knows both without guessing."""
    from milestones.contract import SCHEMA_DIALECT, schema_id

    return {"$schema": SCHEMA_DIALECT, "$id": schema_id(name), **schema}


def event_schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema, for every published event (``<type>.v<version>.json``), the milestone envelope
    (``Milestone.v1.json``, whose data is open) and each milestone type (``Milestone.<type>.v1.json``, closed)."""
    from milestones.contract import milestone_schemas
    from schemas.milestones import Milestone

    _load_contracts()
    found: dict[str, dict[str, Any]] = {}
    for event_type, cls in sorted(EVENT_TYPES.all().items()):
        if not cls.__module__.startswith("schemas."):
            continue  # test-only events are not part of the published language
        schema = cls.model_json_schema()
        schema["x-event-type"], schema["x-schema-version"] = event_type, cls.schema_version
        name = f"{event_type}.v{cls.schema_version}.json"
        found[name] = _identified(name, schema)
    found["Milestone.v1.json"] = _identified("Milestone.v1.json", Milestone.model_json_schema())
    found.update(milestone_schemas())
    return found


def message_keys() -> dict[str, dict[str, str]]:
    """Topic → message type → what keys its records: every type each published topic carries."""
    from harbour.kafka.topics import topic_table
    from harbour_tools.asyncapi import MILESTONE_TOPIC_KEY, message_key
    from milestones.contract import types_for
    from milestones.policy import role_audiences
    from schemas.milestones import Role, milestone_topic
    from services.registry import available, definition

    _load_contracts()
    keys = {t.name: t.key for t in topic_table()}
    found: dict[str, dict[str, str]] = {}
    for spec in map(definition, available()):
        if spec.domain_topic:
            found[spec.domain_topic] = {e.event_type: message_key(e, keys[spec.domain_topic])
                                        for e in spec.published_events}  # fmt: skip
    for role in Role:
        for audience in role_audiences(role):
            found[milestone_topic(audience)] = {r.milestone.value: MILESTONE_TOPIC_KEY for r in types_for(role)}
    return {topic: dict(sorted(types.items())) for topic, types in sorted(found.items())}


def contract_lock() -> dict[str, Any]:
    """What consumers rely on besides payload shapes: each topic's key and partition count, and the key of every
    message type on it (a type keyed otherwise than its topic says so: housing's shelter and bed events)."""
    from harbour.kafka.topics import topic_table

    _load_contracts()
    from services.registry import available, definition

    # Importing a service registers its topics; its domain topic is the one its definition declares.
    domain = {d.domain_topic for d in map(definition, available()) if d.domain_topic}
    # Only the published topics: tests register topics of their own in the same table.
    milestone = re.compile(r"^milestones\.[a-z0-9-]+\.v1$")
    topics: dict[str, dict[str, Any]] = {t.name: {"key": t.key, "partitions": t.partitions} for t in topic_table()
              if t.name.removesuffix(".dlq") in domain or milestone.match(t.name.removesuffix(".dlq"))}  # fmt: skip
    for topic, types in message_keys().items():
        if topic in topics:
            topics[topic]["messages"] = types
    return {"topics": dict(sorted(topics.items()))}


def asyncapi_documents() -> dict[str, dict[str, Any]]:
    from harbour.settings import HarbourSettings
    from harbour_tools.asyncapi import document
    from services.registry import available, definition

    # Default settings, not this machine's: the contract must not depend on where its broker runs or its zones.
    settings = HarbourSettings()
    definitions = [definition(name) for name in available()]
    return {f"{spec.name}.json": document(spec, definitions, settings) for spec in definitions}


def _dump(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"


def export(root: Path = SCHEMAS_DIR) -> list[Path]:
    """Write every generated contract under ``root``; returns the files written."""
    written = []
    for folder, files in (("jsonschema", event_schemas()), ("asyncapi", asyncapi_documents())):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            path = root / folder / name
            path.write_text(_dump(content))
            written.append(path)
    lock = root / "contracts.lock.json"
    lock.write_text(_dump(contract_lock()))
    written.append(lock)
    return written


# -- breaking-change detection --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Break:
    contract: str
    reason: str

    def __str__(self) -> str:
        return f"{self.contract}: {self.reason}"


def _resolve(schema: Any, defs: dict[str, Any]) -> Any:
    """Inline local ``$ref``s so two versions compare by meaning, not by where pydantic put a definition."""
    if isinstance(schema, dict):
        if "$ref" in schema and schema["$ref"].startswith("#/$defs/"):
            return _resolve(defs[schema["$ref"].split("/")[-1]], defs)
        return {k: _resolve(v, defs) for k, v in schema.items() if k not in ("$defs", "title", "description")}
    if isinstance(schema, list):
        return [_resolve(v, defs) for v in schema]
    return schema


def _types(schema: dict[str, Any]) -> set[str]:
    """The JSON types a (resolved) schema admits; anyOf/oneOf are unions."""
    if "anyOf" in schema or "oneOf" in schema:
        return set().union(*(_types(s) for s in schema.get("anyOf", schema.get("oneOf", []))))
    kind = schema.get("type")
    if kind is None:
        return {"any"}
    return set(kind) if isinstance(kind, list) else {kind}


def _enum(schema: dict[str, Any]) -> set[Any] | None:
    """The closed list of values a schema admits (null aside), or None when it is open."""
    if "anyOf" in schema:
        lists = [_enum(s) for s in schema["anyOf"] if s.get("type") != "null"]
        return None if not lists or None in lists else set().union(*lists)  # type: ignore[arg-type]
    if "enum" in schema:
        return set(schema["enum"])
    if "const" in schema:
        return {schema["const"]}
    return None


def _variants(schema: dict[str, Any]) -> dict[str, Any]:
    """A ``oneOf``'s titled variants by title (a milestone type's one variant per audience role)."""
    found = schema.get("oneOf", [])
    return {v["title"]: v for v in found if isinstance(v, dict) and "title" in v}


def compare(
    name: str, old: dict[str, Any], new: dict[str, Any], path: str = "", *, closed: bool = False
) -> list[Break]:
    """What a reader of ``old`` would no longer understand in ``new`` (same contract, same version).

    ``closed``: the contract is published closed to readers outside the platform (the milestone types), who may
    validate with ``additionalProperties: false``: a field added to a closed object breaks them too."""
    old = _resolve(old, old.get("$defs", {})) if "$defs" in old else old
    new = _resolve(new, new.get("$defs", {})) if "$defs" in new else new
    breaks: list[Break] = []
    where = path or "payload"
    old_types, new_types = _types(old), _types(new)
    if "any" not in old_types and "any" not in new_types and old_types != new_types:
        # Widened, a reader meets a type it never expected; narrowed, a writer of the old shape is refused.
        breaks.append(Break(name, f"{where}: type changed from {sorted(old_types)} to {sorted(new_types)}"))
    old_enum, new_enum = _enum(old), _enum(new)
    if old_enum is not None and new_enum is not None and old_enum - new_enum:
        breaks.append(Break(name, f"{where}: enum values removed {sorted(map(str, old_enum - new_enum))}"))
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for field in old_props:
        if field not in new_props:
            breaks.append(Break(name, f"{where}.{field}: field removed or renamed"))
        else:
            breaks.extend(compare(name, old_props[field], new_props[field], f"{where}.{field}", closed=closed))
    if closed and old.get("additionalProperties") is False:
        for field in sorted(set(new_props) - set(old_props)):
            breaks.append(Break(name, f"{where}.{field}: field added to a closed object (a new version is needed)"))
    new_variants = _variants(new)
    for title, variant in _variants(old).items():
        # A role that no longer receives the type loses nothing it could misread; a changed one is compared.
        if title in new_variants:
            breaks.extend(compare(name, variant, new_variants[title], f"{where}<{title}>", closed=closed))
    newly_required = set(new.get("required", [])) - set(old.get("required", []))
    for field in sorted(newly_required):
        breaks.append(Break(name, f"{where}.{field}: optional or new field made required"))
    if "items" in old and "items" in new:
        breaks.extend(compare(name, old["items"], new["items"], f"{where}[]", closed=closed))
    return breaks


def _missing_upcasters(name: str, old: dict[str, Any]) -> list[Break]:
    """A new schema version is not a break when every older one is lifted to it on read, step by step.

    Why a new version may drop or change what the old one had (ShelterRegistered v2 dropped the shelter's name):
    the domain topics are read only by platform services, and every one of them decodes through the one event
    registry, which upcasts a v1 record (still on the topic, or still stored) to the current class before any
    handler sees it. Nobody reads the v1 shape as v1, so what a v1 reader relied on is honoured by the upcaster,
    and the committed v1 file stays as the description of those old records. Without an upcaster for a step,
    such a record would not decode at all: that is the break this reports.
    """
    event_type, version = old.get("x-event-type"), old.get("x-schema-version")
    if not isinstance(event_type, str) or not isinstance(version, int) or not EVENT_TYPES.known(event_type):
        return []
    target = EVENT_TYPES.cls_for(event_type).schema_version
    # The registry keeps its upcasters by (type, from-version); it has no public question for "is there one".
    steps = getattr(EVENT_TYPES, "_upcasters", {})
    return [
        Break(name, f"no upcaster from v{step} to v{step + 1}: stored and published v{step} records would not decode")
        for step in range(version, target)
        if (event_type, step) not in steps
    ]


def check(root: Path = SCHEMAS_DIR) -> list[Break]:
    """Breaking changes of the working tree's contracts against the committed ones under ``root``."""
    breaks: list[Break] = []
    current = event_schemas()
    committed_dir = root / "jsonschema"
    for path in sorted(committed_dir.glob("*.json")):
        old = json.loads(path.read_text())
        new = current.get(path.name)
        if new is None:
            # An old version may only disappear if the contract moved on to a newer version (upcast on read).
            stem = path.name.rsplit(".v", 1)[0]
            if not any(name.startswith(stem + ".v") for name in current):
                breaks.append(Break(path.name, "contract removed"))
            else:
                breaks.extend(_missing_upcasters(path.name, old))
            continue
        breaks.extend(compare(path.name, old, new, closed="x-milestone-type" in old))
    lock_path = root / "contracts.lock.json"
    if lock_path.exists():
        old_topics = json.loads(lock_path.read_text())["topics"]
        new_topics = contract_lock()["topics"]
        for topic, spec in old_topics.items():
            if topic not in new_topics:
                breaks.append(Break(topic, "topic removed or renamed"))
            elif new_topics[topic]["key"] != spec["key"]:
                breaks.append(Break(topic, f"key changed from {spec['key']!r} to {new_topics[topic]['key']!r}"))
            elif new_topics[topic]["partitions"] != spec["partitions"]:
                breaks.append(Break(topic, "partition count changed (per-case order would break)"))
            else:
                breaks.extend(_message_key_breaks(topic, spec.get("messages", {}), new_topics[topic]))
    return breaks


def _message_key_breaks(topic: str, old: dict[str, str], new_topic: dict[str, Any]) -> list[Break]:
    """Each message type the lock lists on a topic: still sent there, under the same key."""
    new = new_topic.get("messages", {})
    breaks = []
    for kind, key in old.items():
        if kind not in new:
            breaks.append(Break(topic, f"{kind}: no longer sent on this topic"))
        elif new[kind] != key:
            breaks.append(Break(topic, f"{kind}: key changed from {key!r} to {new[kind]!r}"))
    return breaks


def stale(root: Path = SCHEMAS_DIR) -> list[str]:
    """Generated files that differ from what the code generates now (export not re-run after a compatible change)."""
    differ = []
    for folder, files in (("jsonschema", event_schemas()), ("asyncapi", asyncapi_documents())):
        for name, content in files.items():
            path = root / folder / name
            if not path.exists() or path.read_text() != _dump(content):
                differ.append(f"{folder}/{name}")
    lock = root / "contracts.lock.json"
    if not lock.exists() or lock.read_text() != _dump(contract_lock()):
        differ.append("contracts.lock.json")
    return differ
