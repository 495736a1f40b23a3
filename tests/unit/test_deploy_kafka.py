"""Kafka topics, principals and ACLs of the production stack: generated from code, committed, and exact."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict

import pytest

from harbour.kafka.consumer import Subscription
from harbour.kafka.topics import TopicSpec
from harbour.service import Endpoints, ServiceDefinition, ServiceRuntime
from harbour.settings import REPO_ROOT, HarbourSettings
from harbour_tools import deploy
from services import registry

TOPICS_FILE = REPO_ROOT / "deploy" / "kafka" / "topics.txt"
ACLS_FILE = REPO_ROOT / "deploy" / "kafka" / "acls.txt"


def in_production_process(code: str) -> object:
    """Run ``code`` in a fresh interpreter that imports what a production process imports, never the test-only
    services (this process may have registered their topics in the one topic table). Returns its JSON output."""
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("HARBOUR_POLICE_ZONES")}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         check=True, timeout=120)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def production() -> dict:
    return in_production_process(
        "import json; from harbour_tools import deploy; from harbour.kafka.topics import topic_table\n"
        "services = deploy.production_services()\n"
        "from schemas.audiences import all_audiences; from harbour.settings import get_settings\n"
        "print(json.dumps({'table': [t.name for t in topic_table()],"
        " 'audiences': all_audiences(get_settings().police_zones),"
        " 'stale': [str(p) for p in deploy.stale(deploy.artefacts(services))]}))"
    )


def topics_file() -> dict[str, tuple[int, str]]:
    rows = [line.split() for line in TOPICS_FILE.read_text().splitlines() if line and not line.startswith("#")]
    return {name: (int(partitions), configs) for name, partitions, configs in rows}


def acl_file() -> tuple[list[str], set[tuple[str, ...]]]:
    lines = [line.split() for line in ACLS_FILE.read_text().splitlines() if line and not line.startswith("#")]
    principals = [parts[1] for parts in lines if parts[0] == "principal"]
    grants = {tuple(parts[1:]) for parts in lines if parts[0] == "allow"}
    return principals, grants


def test_the_committed_generated_files_are_what_the_code_generates_now(production):
    assert production["stale"] == [], "run `harbour deploy all` and commit the result"


def test_the_cli_check_passes_on_the_committed_files():
    result = subprocess.run([sys.executable, "-m", "harbour_tools.cli.main", "deploy", "all", "--check"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_topic_of_the_topic_table_is_created_by_the_init_job(production):
    created = topics_file()
    missing = set(production["table"]) - set(created)
    assert not missing, f"not in deploy/kafka/topics.txt: {sorted(missing)}"
    for name, (partitions, configs) in created.items():
        assert partitions >= 1 and "min.insync.replicas=2" in configs.split(","), name
    assert {f"{d}.events.v1" for d in ("intake", "legal", "tracks", "housing")} <= set(created)


def test_every_audience_has_its_principal_and_its_acl_and_no_more(production):
    principals, grants = acl_file()
    by_principal: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for grant in grants:
        by_principal[grant[0]].add(grant)
    expected_audiences = sorted(production["audiences"])
    assert expected_audiences, "the audience policy lists no audience"
    listed = sorted(p.removeprefix(deploy.AUDIENCE_PREFIX) for p in principals if p.startswith(deploy.AUDIENCE_PREFIX))
    assert listed == expected_audiences
    for audience in expected_audiences:
        principal = deploy.audience_principal(audience)
        topic = f"milestones.{audience}.v1"
        assert by_principal[principal] == {
            (principal, "topic", "literal", topic, "Read"),
            (principal, "topic", "literal", topic, "Describe"),
            (principal, "group", "prefixed", f"{audience}.", "Read"),
        }, audience
    # no grant anywhere names a principal the file does not create
    assert set(by_principal) <= set(principals)


def test_no_one_but_its_audience_and_the_feeds_service_may_read_a_milestone_topic():
    _, grants = acl_file()
    for principal, resource, _pattern, name, operation in grants:
        if resource == "topic" and operation == "Read" and name.startswith("milestones."):
            audience = deploy.MILESTONE_TOPIC.match(name)["audience"]  # type: ignore[index]
            assert principal in {deploy.audience_principal(audience), deploy.service_principal("feeds")}, name


def test_every_service_has_a_principal_and_writes_only_its_own_topics():
    principals, grants = acl_file()
    for name in registry.available():
        definition = registry.definition(name)
        principal = deploy.service_principal(name)
        assert principal in principals
        written = {g[3] for g in grants if g[0] == principal and g[4] == "Write"}
        consumed = {s.topic for s in definition.subscriptions}
        own = {definition.domain_topic} - {None} | {t.name for t in definition.topics} | {f"{t}.dlq" for t in consumed}
        assert written == own, name
        read = {g[3] for g in grants if g[0] == principal and g[4] == "Read" and g[1] == "topic"}
        assert read == consumed, name


# -- the generator itself, on a made-up platform -----------------------------------------------------------------
async def _noop(ctx, event) -> None:  # pragma: no cover - never called
    return None


UPSTREAM = ServiceDefinition(name="upstream", title="u", description="u", port=0, domain_topic="upstream.events.v1",
                             topics=[TopicSpec("milestones.office-a.v1", 2, "ref")])  # fmt: skip
DOWNSTREAM = ServiceDefinition(
    name="downstream", title="d", description="d", port=0, domain_topic="downstream.events.v1",
    subscriptions=[Subscription(topic="upstream.events.v1", consumer="downstream.react", handle=_noop)],
)  # fmt: skip


def test_a_consumer_reads_in_its_own_group_and_dead_letters_to_the_consumed_topics_dlq():
    rules = {r.line() for r in deploy.acl_plan([UPSTREAM, DOWNSTREAM], ["office-a", "office-b"])}
    assert "svc-downstream topic literal upstream.events.v1 Read" in rules
    assert "svc-downstream group literal downstream.react Read" in rules
    assert "svc-downstream topic literal upstream.events.v1.dlq Write" in rules
    assert "svc-downstream topic literal upstream.events.v1 Write" not in rules
    assert "svc-upstream topic literal milestones.office-a.v1 Write" in rules
    assert "svc-upstream topic literal upstream.events.v1 Read" not in rules
    assert "aud-office-b topic literal milestones.office-a.v1 Read" not in rules
    assert {r for r in rules if r.startswith("aud-office-b ")} == {
        "aud-office-b topic literal milestones.office-b.v1 Read",
        "aud-office-b topic literal milestones.office-b.v1 Describe",
        "aud-office-b group prefixed office-b. Read",
    }


def test_a_service_may_describe_every_topic_its_runtime_keeps_present():
    """Else its topic keeper would take an invisible topic for a missing one and fail every relay batch."""
    settings = HarbourSettings()
    for definition in [*(registry.definition(n) for n in registry.available()), UPSTREAM, DOWNSTREAM]:
        runtime = ServiceRuntime(definition, Endpoints("postgresql://unused/x", "127.0.0.1:1"), settings=settings)
        kept = {t.name for t in runtime.topics()}
        assert kept == {t.name for t in deploy.service_topics(definition)}, definition.name
        described = {r.name for r in deploy.acl_plan([definition], []) if r.operation == "Describe"}
        assert kept <= described, definition.name


def test_every_principal_has_a_password_variable_in_the_env_template():
    principals, _ = acl_file()
    template = (REPO_ROOT / "deploy" / "harbour.env.example").read_text().splitlines()
    for principal in principals:
        assert f"{deploy.password_variable(principal)}=" in template, principal


def test_each_service_gets_a_database_and_a_role_that_no_other_role_may_connect_to():
    script = (REPO_ROOT / "deploy" / "postgres" / "init" / "10-harbour-databases.sh").read_text()
    for name in registry.available():
        db = f"harbour_{name}"
        assert f"CREATE ROLE {db} LOGIN PASSWORD '${{{deploy.db_password_variable(name)}}}'" in script
        assert f"CREATE DATABASE {db} OWNER {db};" in script
        assert f"REVOKE CONNECT, TEMPORARY ON DATABASE {db} FROM PUBLIC;" in script
        assert f"GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {db};" in script
    assert script.count("NOSUPERUSER NOCREATEDB NOCREATEROLE") == len(registry.available())
