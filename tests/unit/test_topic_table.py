"""The topic table learns each domain topic from the service that declares it; the runtime names no service."""

from __future__ import annotations

import json
import subprocess
import sys

from harbour.kafka.topics import DOMAIN_PARTITIONS, DOMAIN_TOPIC_KEY, consumed_topics, domain_topic
from harbour.settings import REPO_ROOT
from services import registry


def in_fresh_process(code: str) -> dict:
    """Run ``code`` in a process of its own: this one has imported every service and registered their topics."""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True,
                         timeout=120)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_runtime_alone_knows_no_domain_topic():
    seen = in_fresh_process(
        "import json; from harbour.kafka.topics import topic_table; import harbour.service\n"
        "print(json.dumps([t.name for t in topic_table()]))"
    )
    assert seen == []


def test_a_service_process_knows_its_own_domain_topic_and_the_shape_of_the_ones_it_consumes():
    seen = in_fresh_process(
        "import json; from harbour.kafka.topics import topic_table; from harbour.service import ServiceRuntime,"
        " Endpoints; from services.legal.app import DEFINITION\n"
        "kept = ServiceRuntime(DEFINITION, Endpoints('postgresql://unused/x', '127.0.0.1:1')).topics()\n"
        "print(json.dumps({'table': [t.name for t in topic_table() if t.name.endswith('.events.v1')],"
        " 'kept': {t.name: [t.partitions, t.key] for t in kept if '.events.v1' in t.name}}))"
    )
    # Only legal's own definition was imported: intake's topic is not in its table, yet it is kept present (a
    # consumer subscribed to a missing topic would see it only at its next metadata refresh, minutes later).
    assert seen["table"] == ["legal.events.v1"]
    shape = [DOMAIN_PARTITIONS, DOMAIN_TOPIC_KEY]
    assert seen["kept"] == {
        "legal.events.v1": shape, "legal.events.v1.dlq": [1, DOMAIN_TOPIC_KEY],
        "intake.events.v1": shape, "intake.events.v1.dlq": [1, DOMAIN_TOPIC_KEY],
        "tracks.events.v1": shape, "tracks.events.v1.dlq": [1, DOMAIN_TOPIC_KEY],
    }  # fmt: skip


def test_every_services_domain_topic_is_the_one_its_definition_declares_named_after_it():
    declared = {d.name: d.domain_topic for d in map(registry.definition, registry.available())}
    assert declared == {"intake": "intake.events.v1", "legal": "legal.events.v1", "tracks": "tracks.events.v1",
                        "housing": "housing.events.v1", "feeds": None,
                        "statistics": "statistics.events.v1",
                        "signals": "signals.events.v1"}  # fmt: skip


def test_a_consumed_topic_from_the_table_keeps_its_own_spec_and_an_unknown_name_is_left_out():
    assert consumed_topics(["no-such-topic"]) == []
    assert consumed_topics(["nobody.events.v1"]) == [domain_topic("nobody.events.v1", "nobody")]
    # This process imported every service: intake's spec is the one its definition registered.
    assert [(t.name, t.partitions, t.key) for t in consumed_topics(["intake.events.v1"])] == [
        ("intake.events.v1", 4, "case id")
    ]
