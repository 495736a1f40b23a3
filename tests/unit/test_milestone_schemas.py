"""The published contracts a consumer codes against: one closed JSON Schema per milestone type, generated from the
policy; ``$id`` and ``$schema`` on every schema; the compatibility check over them; the keys in the lock; and the
AsyncAPI documents' milestone channels, headers, keys, senders and receivers. No broker, no database."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from harbour.events import EVENT_TYPES
from harbour.settings import HarbourSettings
from harbour.store.envelope import HEADER_NAMES
from harbour_tools.asyncapi import milestone_channel_id
from harbour_tools.contracts import SCHEMAS_DIR, asyncapi_documents, check, compare, contract_lock, event_schemas
from milestones.contract import file_name, milestone_schemas, schema_id
from milestones.policy import role_audiences, source_services
from milestones.pseudonyms import Pseudonyms
from milestones.route import MilestoneRoute
from schemas.audiences import all_audiences, milestone_topic
from schemas.housing import NETWORK_KEY
from schemas.milestones import POLICY, Role
from services.registry import available, definition
from tests.support.kafka import assert_matches_its_schema
from tests.support.milestone_events import ZONES, FactsConn, case_facts, policy_events, recorded

SCHEMAS = milestone_schemas()


def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(SCHEMAS[name], format_checker=Draft202012Validator.FORMAT_CHECKER)


VALIDATORS = {name: _validator(name) for name in SCHEMAS}


def test_each_milestone_type_has_one_closed_schema_with_exactly_the_fields_the_policy_grants_each_role():
    assert sorted(SCHEMAS) == sorted(file_name(rule) for rule in POLICY) and len(SCHEMAS) == len(POLICY)
    for rule in POLICY:
        schema = SCHEMAS[file_name(rule)]
        Draft202012Validator.check_schema(schema)
        assert schema["additionalProperties"] is False
        assert schema["properties"]["milestone"] == {"const": rule.milestone.value}
        variants = {v["title"]: v["properties"] for v in schema["oneOf"]}
        assert variants.keys() == {role.value for role in rule.grants}
        for role, granted in rule.grants.items():
            data = variants[role.value]["data"]
            assert data["additionalProperties"] is False
            assert set(data["properties"]) == set(data["required"]) == set(granted), (rule.milestone, role)


def test_a_milestone_with_a_field_its_role_is_not_granted_or_for_another_roles_audience_is_invalid():
    validator = VALIDATORS["Milestone.statement-made.v1.json"]
    base = {"milestone_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "milestone": "statement-made",
            "case_ref": "r", "file_number": None, "occurred_on": "2026-01-05", "recorded_at": "2026-01-05T09:00:00Z",
            "source": "legal"}  # fmt: skip
    centre = {**base, "audience": "centre-payoke", "data": {"made_on": "2026-01-05", "kind": "complaint"}}
    assert not list(validator.iter_errors(centre)), list(validator.iter_errors(centre))
    # The unit and report number are the magistrate's: on a centre's topic they fail the centre's schema.
    leaked = {**centre, "data": {**centre["data"], "unit": "LOCAL", "report_number": "AN.1"}}
    assert list(validator.iter_errors(leaked))
    # The police get the date only, and a centre's data on a police topic is refused.
    assert list(validator.iter_errors({**centre, "audience": "police-federal", "file_number": "PV.1"}))
    police = {**base, "audience": "police-antwerp", "file_number": "PV.1", "data": {"made_on": "2026-01-05"}}
    assert not list(validator.iter_errors(police))
    assert list(validator.iter_errors({**police, "data": {"made_on": "5 January"}}))  # a date is a date


@settings(max_examples=30, deadline=None)
@given(history=st.lists(st.tuples(case_facts, policy_events), min_size=1, max_size=6))
def test_every_milestone_the_route_publishes_is_valid_against_its_types_schema(history):
    key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    routes = {s: MilestoneRoute(s, HarbourSettings(police_zones=list(ZONES), pseudonym_key=key),
                                Pseudonyms(bytes(range(32)))) for s in source_services()}  # fmt: skip
    for facts, event in history:
        route = routes[type(event).__module__.rpartition(".")[2]]
        for message in asyncio.run(route(FactsConn("case-1", "root-1", facts), recorded(event, "case-1"))):
            headers = dict(message.headers)
            value = json.loads(message.value)
            errors = list(VALIDATORS[f"Milestone.{headers['milestone'].decode()}.v1.json"].iter_errors(value))
            assert not errors, (value, [e.message for e in errors])


def test_every_published_schema_names_its_dialect_and_its_own_id():
    schemas = event_schemas()
    assert set(SCHEMAS) <= set(schemas) and "Milestone.v1.json" in schemas
    for name, schema in schemas.items():
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", name
        assert schema["$id"] == schema_id(name), name
        Draft202012Validator.check_schema(schema)
    assert len({s["$id"] for s in schemas.values()}) == len(schemas)


def _variant(schema: dict[str, Any], role: str) -> dict[str, Any]:
    variant: dict[str, Any] = next(v for v in schema["oneOf"] if v["title"] == role)
    return variant


def test_a_field_added_to_removed_from_or_retyped_in_a_milestone_types_data_is_a_breaking_change():
    old = SCHEMAS["Milestone.track-closed.v1.json"]
    assert compare("t", old, json.loads(json.dumps(old)), closed=True) == []
    added = json.loads(json.dumps(old))
    _variant(added, "prosecution")["properties"]["data"]["properties"]["unit"] = {"type": "string"}
    assert [str(b) for b in compare("t", old, added, closed=True)] == [
        "t: payload<prosecution>.data.unit: field added to a closed object (a new version is needed)"
    ]
    removed = json.loads(json.dumps(old))
    del _variant(removed, "owning-centre")["properties"]["data"]["properties"]["reason"]
    assert any("data.reason: field removed" in str(b) for b in compare("t", old, removed, closed=True))
    retyped = json.loads(json.dumps(old))
    _variant(retyped, "owning-centre")["properties"]["data"]["properties"]["closed_on"] = {"type": "integer"}
    assert any("closed_on: type changed" in str(b) for b in compare("t", old, retyped, closed=True))


def test_the_compatibility_check_covers_the_committed_milestone_type_schemas(tmp_path):
    (tmp_path / "jsonschema").mkdir()
    for name, schema in SCHEMAS.items():
        (tmp_path / "jsonschema" / name).write_text(json.dumps(schema))
    assert check(tmp_path) == []
    # A committed schema the code no longer matches: what a policy change that drops a granted field would give.
    changed = json.loads(json.dumps(SCHEMAS["Milestone.track-closed.v1.json"]))
    _variant(changed, "owning-centre")["properties"]["data"]["properties"]["closed_early"] = {"type": "boolean"}
    (tmp_path / "jsonschema" / "Milestone.track-closed.v1.json").write_text(json.dumps(changed))
    assert [b.reason for b in check(tmp_path)] == ["payload<owning-centre>.data.closed_early: field removed or renamed"]
    (tmp_path / "jsonschema" / "Milestone.track-closed.v1.json").unlink()
    (tmp_path / "jsonschema" / "Milestone.track-ended.v1.json").write_text(json.dumps(changed))
    assert [b.reason for b in check(tmp_path)] == ["contract removed"]


def test_the_lock_keys_every_message_type_of_every_topic_and_shelter_events_by_their_network():
    topics = contract_lock()["topics"]
    housing = topics["housing.events.v1"]["messages"]
    assert {k for k, key in housing.items() if key == NETWORK_KEY} == {
        "ShelterRegistered", "BedAdded", "BedTakenOutOfService", "BedReturnedToService"}  # fmt: skip
    assert housing["BedAssigned"] == "case id"
    for audience in all_audiences(()):
        messages = topics[milestone_topic(audience)]["messages"]
        assert set(messages.values()) == {"audience case reference"}
    guardianship = topics[milestone_topic("guardianship-service")]["messages"]
    assert set(guardianship) == {r.milestone.value for r in POLICY if Role.GUARDIANSHIP_SERVICE in r.grants}


def test_the_check_refuses_a_message_type_whose_key_changed_or_that_left_its_topic(tmp_path):
    lock = contract_lock()
    lock["topics"]["housing.events.v1"]["messages"]["BedAdded"] = "case id"
    lock["topics"]["legal.events.v1"]["messages"]["NoLongerSent"] = "case id"
    (tmp_path / "contracts.lock.json").write_text(json.dumps(lock))
    assert sorted(str(b) for b in check(tmp_path)) == [
        f"housing.events.v1: BedAdded: key changed from 'case id' to {NETWORK_KEY!r}",
        "legal.events.v1: NoLongerSent: no longer sent on this topic",
    ]


def test_the_committed_contracts_are_the_ones_the_code_generates():
    for name, schema in SCHEMAS.items():
        assert json.loads((SCHEMAS_DIR / "jsonschema" / name).read_text()) == schema, name


DOCUMENTS = asyncapi_documents()


def test_every_audience_roles_topics_are_sent_by_the_services_whose_events_reach_it_and_received_by_feeds():
    for role in Role:
        channel = milestone_channel_id(role)
        senders = {name for name, doc in DOCUMENTS.items() if f"send-{channel}" in doc["operations"]}
        assert senders == {f"{s.service}.json" for r in POLICY if role in r.grants for s in r.sources}, role
        feeds = DOCUMENTS["feeds.json"]
        assert feeds["channels"][channel]["address"] == "milestones.{audience}.v1"
        audience = feeds["channels"][channel]["parameters"]["audience"]
        if role is not Role.REFERRER:  # the police zones are configured per deployment: examples, not a list
            assert audience["enum"] == list(role_audiences(role, ()))
        [receive] = [op for op in feeds["operations"].values() if op["channel"]["$ref"] == f"#/channels/{channel}"]
        assert receive["action"] == "receive"
        assert receive["bindings"]["kafka"]["groupId"]["enum"] == ["feeds.milestones"]
        received = {m["$ref"].rpartition("/")[2] for m in receive["messages"]}
        assert received == {f"Milestone.{r.milestone.value}.v1" for r in POLICY if role in r.grants}


def test_every_message_describes_its_headers_and_its_kafka_key_and_its_payload_is_a_real_schema():
    for doc in DOCUMENTS.values():
        assert doc["components"]["securitySchemes"]["scram"]["type"] == "scramSha512"
        assert doc["servers"]["production"]["security"] == [{"$ref": "#/components/securitySchemes/scram"}]
        schemas = doc["components"]["schemas"]
        for name, message in doc["components"]["messages"].items():
            shared, own = message["headers"]["allOf"]
            own = own["properties"]
            assert message["bindings"]["kafka"]["key"]["type"] == "string", name
            if name.startswith("Milestone."):
                assert shared == {"$ref": "#/components/schemas/MilestoneHeaders"}
                assert own["milestone"]["const"] == name.split(".")[1]
                ref = message["payload"]["$ref"].rpartition("/")[2]
                assert schemas[ref] == SCHEMAS[f"{ref}.json"]
            else:
                assert shared == {"$ref": "#/components/schemas/EnvelopeHeaders"}
                assert set(HEADER_NAMES) <= set(schemas["EnvelopeHeaders"]["properties"])
                assert own["event_type"]["const"] == message["name"]
                assert message["payload"]["$ref"].rpartition("/")[2] in schemas
    shelter = DOCUMENTS["housing.json"]["components"]["messages"]["ShelterRegistered.v2"]
    assert shelter["bindings"]["kafka"]["key"]["description"] == NETWORK_KEY


def test_the_committed_asyncapi_documents_are_the_ones_the_code_generates():
    for name, doc in DOCUMENTS.items():
        assert json.loads((SCHEMAS_DIR / "asyncapi" / name).read_text()) == json.loads(json.dumps(doc)), name


def _record(topic: str, value: dict[str, Any], headers: dict[str, str]) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, 0, 0, 0, 0, b"k", json.dumps(value).encode(), None, 1, 1,
                          [(k, v.encode()) for k, v in headers.items()])  # fmt: skip


def test_a_record_read_from_the_broker_is_checked_against_its_types_schema_and_its_described_headers():
    value = {"milestone_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "milestone": "track-closed",
             "audience": "immigration-office", "case_ref": "r", "file_number": None, "occurred_on": "2026-02-01",
             "recorded_at": "2026-02-01T09:00:00+00:00", "source": "tracks",
             "data": {"closed_on": "2026-02-01", "reason": "completed"}}  # fmt: skip
    headers = {"milestone": "track-closed", "milestone_id": value["milestone_id"], "audience": "immigration-office",
               "source": "tracks", "content-type": "application/json"}  # fmt: skip
    topic = milestone_topic("immigration-office")
    assert_matches_its_schema(_record(topic, value, headers))
    with pytest.raises(AssertionError, match=r"does not match Milestone\.track-closed\.v1\.json"):
        assert_matches_its_schema(_record(topic, {**value, "data": {**value["data"], "note": "x"}}, headers))
    with pytest.raises(AssertionError, match="headers not as the AsyncAPI documents say"):
        assert_matches_its_schema(_record(topic, value, {**headers, "source": "intake"}))
    with pytest.raises(AssertionError, match="headers not as the AsyncAPI documents say"):
        assert_matches_its_schema(_record(topic, value, {k: v for k, v in headers.items() if k != "milestone_id"}))


def test_every_event_a_service_defines_is_declared_published_so_its_documents_and_the_lock_describe_it():
    # The relay publishes every stored event; an event missing from published_events (intake's MinorityEstablished
    # and MinorityDisproved were) went out undescribed: no AsyncAPI message, no key in the lock.
    for name in available():
        spec = definition(name)
        if not spec.domain_topic:
            continue
        defined = {t for t, cls in EVENT_TYPES.all().items() if cls.__module__ == f"schemas.{name}"}
        assert {e.event_type for e in spec.published_events} == defined, name
        assert set(contract_lock()["topics"][spec.domain_topic]["messages"]) == defined, name
