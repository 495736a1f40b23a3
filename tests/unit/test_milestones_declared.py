"""The milestone path in plain sight: each publishing service's app.py declares its milestone pieces, and building a
``ServiceDefinition`` adds nothing to it (the runtime once extended every definition named after a policy source)."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any, cast

import pytest

import milestones
from harbour.service import ServiceDefinition
from harbour.settings import get_settings
from harbour.store import EventStore
from milestones import CASE_AUDIENCES, MilestoneRelay, MilestoneRoute
from milestones.case_audiences import on_upstream_fact
from milestones.policy import source_services
from services import registry

PUBLISHING = sorted(source_services())


def test_the_policy_maps_events_of_the_four_case_services_and_not_of_feeds():
    assert PUBLISHING == ["housing", "intake", "legal", "tracks"]
    assert "feeds" in registry.available()


@pytest.mark.parametrize("name", PUBLISHING)
def test_a_publishing_services_definition_holds_every_milestone_piece_once(name: str):
    definition = registry.definition(name)
    pieces = milestones.for_service(name)

    assert definition.milestone_route == MilestoneRelay(name)
    assert pieces.route == definition.milestone_route
    # case_audiences once, last: after the service's own read models, in the append's transaction like them.
    assert [p for p in definition.projections if p is CASE_AUDIENCES] == [CASE_AUDIENCES]
    assert definition.projections[-1] is CASE_AUDIENCES
    assert pieces.projections == (CASE_AUDIENCES,)
    consumers = [s.consumer for s in definition.subscriptions]
    expected = [s.consumer for s in pieces.subscriptions]
    assert expected, f"{name} learns who follows a case from at least one other service"
    assert all(c == f"{name}.case-audiences.{c.rsplit('.', 1)[1]}" for c in expected)
    assert [consumers.count(c) for c in expected] == [1] * len(expected)
    assert [s for s in definition.subscriptions if s.handle is on_upstream_fact] == list(pieces.subscriptions)
    topics = [t.name for t in definition.topics]
    assert len(pieces.topics) >= 1
    assert [topics.count(t.name) for t in pieces.topics] == [1] * len(pieces.topics)
    assert all(t.name.startswith("milestones.") for t in definition.topics)


@pytest.mark.parametrize("name", PUBLISHING)
def test_a_publishing_services_app_py_names_its_milestone_pieces(name: str):
    source = Path(cast(str, importlib.import_module(registry.SERVICES[name]).__file__))
    text = source.read_text()
    assert f'milestones.for_service("{name}")' in text
    for piece in ("MILESTONES.projections", "MILESTONES.subscriptions", "MILESTONES.topics", "MILESTONES.route"):
        assert text.count(piece) == 1, f"{source} declares {piece} once"


def test_the_feeds_service_declares_no_milestone_piece_and_the_policy_gives_it_none():
    feeds = registry.definition("feeds")
    assert feeds.milestone_route is None
    assert not any(p is CASE_AUDIENCES for p in feeds.projections)
    assert [s.consumer for s in feeds.subscriptions if ".case-audiences." in s.consumer] == []
    assert [t.name for t in feeds.topics] == []
    with pytest.raises(ValueError, match="publishes no milestones"):
        milestones.for_service("feeds")


def test_building_a_definition_named_after_a_publishing_service_adds_nothing_to_it():
    bare = ServiceDefinition(name="legal", title="t", description="d", port=0, domain_topic="legal.events.v1")
    assert bare.milestone_route is None
    assert (list(bare.projections), list(bare.subscriptions), list(bare.topics), list(bare.routes)) == ([], [], [], [])


@pytest.mark.parametrize("name", PUBLISHING)
def test_copying_a_definition_keeps_its_pieces_without_doubling_them(name: str):
    definition = registry.definition(name)
    copy = dataclasses.replace(definition)
    assert len(copy.projections) == len(definition.projections)
    assert len(copy.subscriptions) == len(definition.subscriptions)
    assert len(copy.topics) == len(definition.topics)
    assert copy.milestone_route == definition.milestone_route


@pytest.mark.parametrize("name", PUBLISHING)
def test_the_milestone_route_builds_the_services_own_milestones_relay(name: str):
    settings = get_settings()
    store = EventStore(cast(Any, None))  # never used: the relay is built, not started
    relay = MilestoneRelay(name).relay(store=store, dsn="", bootstrap="127.0.0.1:1", settings=settings)
    assert (relay.service, relay.name, relay.domain_topic) == (f"{name}.milestones", f"milestones:{name}", None)
    assert [t.name for t in relay.topics] == [t.name for t in milestones.for_service(name).topics]
    assert len(relay.routes) == 1
    route = relay.routes[0]
    assert isinstance(route, MilestoneRoute)
    assert route.service == name
