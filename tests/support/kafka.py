"""Read what is really on a topic: all partitions from the beginning to their current end, no consumer group.

Every record read from a published topic is checked against its committed JSON Schema as it is read (each milestone
against its type's closed schema, each event against its type and version's), and its headers against its message's
in the AsyncAPI documents, so every test that looks at the broker is also a contract test: a record that does not
match fails the test that read it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from jsonschema import Draft202012Validator

from harbour.events import EVENT_TYPES
from harbour_tools.contracts import SCHEMAS_DIR

MILESTONE_TOPIC = re.compile(r"^milestones\.[a-z0-9-]+\.v1$")


async def read_topic(bootstrap: str, topic: str, *, validate: bool = True) -> list[ConsumerRecord]:
    """``validate=False`` only for a test that writes records no contract describes (poison, on purpose)."""
    return (await read_topics(bootstrap, [topic], validate=validate))[topic]


async def read_topics(
    bootstrap: str, topics: Iterable[str], *, validate: bool = True
) -> dict[str, list[ConsumerRecord]]:
    """Every record of each topic, read by one consumer: a consumer per topic cost some 0.4 s each (its start and
    stop), which made reading the 44 published topics of the platform take 19 s."""
    names = list(dict.fromkeys(topics))
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    records: dict[str, list[ConsumerRecord]] = {name: [] for name in names}
    try:
        if any(consumer.partitions_for_topic(name) is None for name in names):
            await consumer._client.force_metadata_update()
        tps = [TopicPartition(name, p) for name in names for p in sorted(consumer.partitions_for_topic(name) or ())]
        if tps:
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            remaining = {tp for tp in tps if ends[tp] > 0}
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=1000)
                for tp, msgs in batch.items():
                    records[tp.topic].extend(msgs)
                    if msgs and msgs[-1].offset + 1 >= ends[tp]:
                        remaining.discard(tp)
    finally:
        await consumer.stop()
    for name in names:  # in partition order, as a consumer per topic gave them
        records[name].sort(key=lambda r: (r.partition, r.offset))
    if validate:
        for found in records.values():
            for record in found:
                assert_matches_its_schema(record)
    return records


def headers_of(record: ConsumerRecord) -> dict[str, str]:
    return {k: v.decode() for k, v in (record.headers or [])}


@cache
def committed_validator(name: str) -> Draft202012Validator | None:
    """The committed schema ``schemas/jsonschema/<name>``, formats (date, uuid...) checked; None when there is none."""
    path = SCHEMAS_DIR / "jsonschema" / name
    if not path.exists():
        return None
    schema = json.loads(path.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_name(record: ConsumerRecord) -> str | None:
    """Which committed schema a record's value follows, from its headers; None for a record no contract covers:
    a dead letter, or an event type only a test defines (test topics carry those)."""
    if record.topic.endswith(".dlq"):
        return None
    headers = headers_of(record)
    if MILESTONE_TOPIC.match(record.topic):
        return f"Milestone.{headers['milestone']}.v1.json"
    event_type, version = headers.get("event_type"), headers.get("schema_version")
    if event_type is None or version is None:
        return None
    if not EVENT_TYPES.known(event_type) or not EVENT_TYPES.cls_for(event_type).__module__.startswith("schemas."):
        return None  # a test's own event type
    return f"{event_type}.v{version}.json"


@cache
def described_headers() -> dict[str, Draft202012Validator]:
    """AsyncAPI message name (``CaseOpened.v1``, ``Milestone.stay-lapsed.v1``) → its headers' schema, from the
    committed documents (a message several documents describe is described alike: the same generator)."""
    found: dict[str, Draft202012Validator] = {}
    for path in sorted((SCHEMAS_DIR / "asyncapi").glob("*.json")):
        document = json.loads(path.read_text())
        for name, message in document["components"]["messages"].items():
            schema = _inlined(message["headers"], document)
            found.setdefault(name, Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER))
    return found


def _inlined(node: Any, document: dict[str, Any]) -> Any:
    """A schema with its references into the document (``#/components/schemas/...``) replaced by what they name."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return _inlined(target, document)
        return {k: _inlined(v, document) for k, v in node.items()}
    if isinstance(node, list):
        return [_inlined(v, document) for v in node]
    return node


def _older_version(record: ConsumerRecord) -> bool:
    headers = headers_of(record)
    if "event_type" not in headers or not EVENT_TYPES.known(headers["event_type"]):
        return False
    return int(headers["schema_version"]) < EVENT_TYPES.cls_for(headers["event_type"]).schema_version


def assert_matches_its_schema(record: ConsumerRecord) -> None:
    """The value against its committed JSON Schema, the headers against what the AsyncAPI documents say of them."""
    name = schema_name(record)
    if name is None:
        return
    headers = described_headers().get(name.removesuffix(".json"))
    # The documents describe each event's current version; an older one (ShelterRegistered v1, still on the topic
    # and upcast by every platform reader) has its committed JSON Schema only.
    if headers is not None or not _older_version(record):
        assert headers is not None, f"{record.topic}@{record.offset}: no AsyncAPI document describes {name}"
        wrong = [e.message for e in headers.iter_errors(headers_of(record))]
        assert not wrong, f"{record.topic}@{record.offset}: headers not as the AsyncAPI documents say: {wrong}"
    validator = committed_validator(name)
    assert validator is not None, f"{record.topic}@{record.offset}: no committed schema {name}"
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(json.loads(record.value))
    ]
    assert not errors, f"{record.topic}@{record.offset} does not match {name}: {errors}"
