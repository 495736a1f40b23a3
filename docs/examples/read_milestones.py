"""Read an office's Harbour milestones with librdkafka, validating every message against the published schema.

The integrator's guide (docs/integrators.md) explains each setting. A Kafka client Harbour did not write:
librdkafka through ``confluent-kafka`` (its wheels bundle librdkafka), and ``jsonschema`` for the contract::

    pip install confluent-kafka jsonschema

    # against the development broker (`make infra`, or `make run`), as the Payoke centre:
    python docs/examples/read_milestones.py --audience centre-payoke --bootstrap 127.0.0.1:9092

    # against production Kafka (SASL/SCRAM over TLS, the office's own principal aud-<audience>):
    KAFKA_PASSWORD=... python docs/examples/read_milestones.py --audience prosecution-antwerp \
        --bootstrap kafka.harbour.example:9094 --production --ca /etc/ssl/harbour-ca.pem

Each milestone read is printed as one JSON line (type, case reference, dates: no personal data travels on these
topics) and its offset is committed only after it was validated and printed, so a restart reads on from there.
Exit status: 0 when every message read was valid, 1 when one was not, 2 on a Kafka error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message
from jsonschema import FormatChecker, ValidationError
from jsonschema.validators import validator_for
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

# The committed contract (`harbour schemas export`), next to this example in the repository.
DEFAULT_SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "jsonschema" / "Milestone.v1.json"


def local_schemas(folder: Path) -> Registry:
    """Every schema of the folder, by its ``$id``: a ``$ref`` between published schemas resolves from these files,
    never by fetching anything."""
    resources = []
    for path in sorted(folder.glob("*.json")):
        document = json.loads(path.read_text())
        if isinstance(document, dict) and "$id" in document:
            resources.append((document["$id"], Resource.from_contents(document, default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


def consumer_config(args: argparse.Namespace) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": args.bootstrap,
        # The office's ACL admits only consumer groups named after its audience: "<audience>.<anything>".
        "group.id": f"{args.audience}.{args.group}",
        "client.id": f"{args.audience}-milestone-reader",
        # A new group starts at the beginning of the topic: the office's whole history, then what comes.
        "auto.offset.reset": "earliest",
        # Offsets are committed by hand, after a message was handled (below): at-least-once, never lost.
        "enable.auto.commit": False,
    }
    if args.production:
        config.update({
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": f"aud-{args.audience}",
            "sasl.password": os.environ["KAFKA_PASSWORD"],
        })  # fmt: skip
        if args.ca:
            config["ssl.ca.location"] = args.ca
    else:
        # The development broker (Tansu) forms a group only after about half the session timeout, and
        # librdkafka's defaults (45 s, 300 s) kept the first message ~23 s away; 6 s brings it to ~3 s.
        config.update({"session.timeout.ms": 6000, "max.poll.interval.ms": 6000})
    return config


class Contract:
    """The published schemas of a milestone: the envelope every milestone shares (``--schema``) and, where it is
    published beside it, the closed schema of the milestone's own type (``Milestone.<type>.v1.json``)."""

    def __init__(self, envelope: Path) -> None:
        self.folder, self.envelope_name = envelope.parent, envelope.name
        self.registry = local_schemas(self.folder)
        self.envelope = self._validator(envelope)
        self.by_type: dict[str, Any] = {}

    def _validator(self, path: Path) -> Any:
        schema = json.loads(path.read_text())
        return validator_for(schema)(schema, registry=self.registry, format_checker=FormatChecker())

    def validate(self, value: dict[str, Any]) -> list[str]:
        """Raises ValidationError when ``value`` is off the contract; the schema files it was checked against."""
        self.envelope.validate(value)
        checked = [self.envelope_name]
        path = self.folder / f"Milestone.{value['milestone']}.v1.json"
        if path.is_file():
            if value["milestone"] not in self.by_type:
                self.by_type[value["milestone"]] = self._validator(path)
            self.by_type[value["milestone"]].validate(value)
            checked.append(path.name)
        return checked


def check(message: Message, contract: Contract, audience: str) -> tuple[dict[str, Any], list[str]]:
    """The milestone in ``message``, checked: valid against the schemas, and consistent with its key and headers."""
    value = json.loads(message.value())
    checked = contract.validate(value)
    headers = {name: raw.decode() for name, raw in (message.headers() or []) if raw is not None}
    if value["audience"] != audience:
        raise ValidationError("a milestone for another audience on this audience's topic")
    if message.key() != value["case_ref"].encode():
        raise ValidationError("the message key is not the milestone's case reference")
    if headers.get("milestone") != value["milestone"] or headers.get("milestone_id") != value["milestone_id"]:
        raise ValidationError("the headers do not name the milestone the value holds")
    return value, checked


def reason(exc: Exception) -> str:
    """Where and why a message is off the contract, without quoting any of its values (an invalid message may
    hold anything: jsonschema's own text repeats the offending value)."""
    if isinstance(exc, ValidationError) and exc.validator is not None:
        return f"{exc.json_path} fails {exc.validator!r}"
    if isinstance(exc, ValidationError):
        return exc.message
    return type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audience", required=True, help="your audience id, e.g. centre-payoke")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers")
    parser.add_argument("--group", default="reader", help="consumer group name after '<audience>.'")
    parser.add_argument("--production", action="store_true", help="SASL_SSL + SCRAM-SHA-512 as aud-<audience>")
    parser.add_argument("--ca", help="CA certificate (PEM) of the production brokers")
    parser.add_argument("--schema", type=Path, default=DEFAULT_SCHEMA, help="the milestone JSON Schema")
    parser.add_argument("--max-messages", type=int, default=0, help="stop after this many (0: never)")
    parser.add_argument("--idle-seconds", type=float, default=0, help="stop after this long without one (0: never)")
    args = parser.parse_args(argv)

    contract = Contract(args.schema)
    consumer = Consumer(consumer_config(args))
    consumer.subscribe([f"milestones.{args.audience}.v1"])
    read = invalid = 0
    last = time.monotonic()
    try:
        while not args.max_messages or read < args.max_messages:
            if args.idle_seconds and time.monotonic() - last > args.idle_seconds:
                break
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                print(f"kafka error: {error}", file=sys.stderr)
                if error.fatal() or not error.retriable():
                    return 2
                continue
            last = time.monotonic()
            read += 1
            try:
                milestone, checked = check(message, contract, args.audience)
            except (ValueError, KeyError, TypeError, ValidationError) as exc:
                # A message that breaks the contract: report it (without its content) and go on.
                invalid += 1
                print(f"invalid message at {message.topic()}[{message.partition()}]@{message.offset()}: "
                      f"{reason(exc)}", file=sys.stderr)  # fmt: skip
            else:
                shown = {key: milestone[key] for key in
                         ("milestone", "milestone_id", "case_ref", "occurred_on", "source", "data")}  # fmt: skip
                print(json.dumps({**shown, "schemas": checked}), flush=True)
            consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()
    print(f"read {read} milestones, {invalid} invalid", file=sys.stderr)
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
