"""The aggregate contract, once, for every service: subclass :class:`AggregateContract` per service.

An aggregate's state is nothing but its events applied in order (harbour/aggregate.py): the repository loads
it by replaying its stream, so a state that replay does not rebuild is a state the next command decides on
differently. A subclass names its aggregate classes and gives a few realistic histories (each an aggregate as
its commands left it, and the events they recorded). The same tests then hold every service to the promise:

* replaying a history rebuilds the same state, attribute for attribute, and the same version;
* so does replaying the payloads as stored (JSON through the event registry, upcasters included);
* every event type an aggregate refers to is one its ``apply`` handles by a ``case`` of its ``match``;
* an event the aggregate does not know is a ``TypeError`` (no silent fall-through: a ``match`` without
  ``case _`` would drop it and leave the state as it was, the failure this promise exists to prevent).
"""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from harbour.aggregate import Aggregate
from harbour.events import EVENT_TYPES, DomainEvent


@dataclass
class History:
    """``recorded`` is the aggregate as its commands left it; ``events`` its whole stream, in order (saved or
    not: a history may be saved part way, positions must not depend on it). ``expect`` checks what the
    history is about on the replayed copy (the service's own assertions, beyond "the same as recorded")."""

    name: str
    recorded: Aggregate
    events: list[DomainEvent] = field(default_factory=list)
    expect: Callable[[Any], object] | None = None
    # Where the replay starts: empty by default; a state built by commands and saved (``events`` then being
    # only what followed it) when a history is about the events after such a state.
    start: Callable[[], Aggregate] | None = None

    @classmethod
    def of(cls, name: str, recorded: Aggregate, expect: Callable[[Any], object] | None = None) -> History:
        """A history never saved: its stream is what the aggregate has pending."""
        return cls(name, recorded, recorded.pending(), expect)


def state(aggregate: Aggregate, ignored: Iterable[str] = ()) -> dict[str, Any]:
    """Everything the aggregate holds but its unsaved events and its version (compared on their own)."""
    skip = {"_pending", "version", *ignored}
    return {k: v for k, v in vars(aggregate).items() if k not in skip}


def stored(events: Iterable[DomainEvent]) -> list[DomainEvent]:
    """The events as the store gives them back: JSON payloads decoded through the registry."""
    return [EVENT_TYPES.decode(e.event_type, e.schema_version, json.loads(e.model_dump_json())) for e in events]


def _class_names(pattern: ast.pattern) -> set[str]:
    match pattern:
        case ast.MatchClass(cls=ast.Name(id=name)):
            return {name}
        case ast.MatchClass(cls=ast.Attribute(attr=name)):
            return {name}
        case ast.MatchOr(patterns=alternatives):
            return set().union(*(_class_names(p) for p in alternatives))
        case ast.MatchAs(pattern=inner) if inner is not None:
            return _class_names(inner)
    return set()


def handled(cls: type[Aggregate]) -> set[type[DomainEvent]]:
    """The event classes the ``case`` patterns of ``apply`` name, through the class and its aggregate bases."""
    out: set[type[DomainEvent]] = set()
    for klass in cls.__mro__:
        if klass is Aggregate or "apply" not in vars(klass):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(vars(klass)["apply"])))
        names = {n for node in ast.walk(tree) if isinstance(node, ast.match_case) for n in _class_names(node.pattern)}
        out |= _events(vars(inspect.getmodule(klass)), names)
    return out


def _events(scope: dict[str, Any], names: Iterable[str]) -> set[type[DomainEvent]]:
    """The concrete event classes (those with a type name of their own) among ``names`` in ``scope``."""
    found = (scope.get(n) for n in names)
    return {t for t in found if isinstance(t, type) and issubclass(t, DomainEvent) and "event_type" in vars(t)}


def referred(cls: type[Aggregate]) -> set[type[DomainEvent]]:
    """The event classes the aggregate's own code names (what it records, and reads back from its state)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    return _events(vars(inspect.getmodule(cls)), {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)})


class AggregateContract:
    """Not collected itself (no ``Test`` prefix): each service's ``Test...Aggregates`` subclass runs these tests.

    ``aggregates``: every aggregate class of the service. ``ignored``: per class, attributes a command sets
    outside ``apply`` on purpose (say why where you list one). ``histories()``: at least one per aggregate.
    """

    aggregates: ClassVar[tuple[type[Aggregate], ...]]
    ignored: ClassVar[dict[type[Aggregate], frozenset[str]]] = {}

    def histories(self) -> list[History]:
        raise NotImplementedError

    def _replayed(self, history: History, events: list[DomainEvent]) -> Aggregate:
        original = history.recorded
        rebuilt = history.start() if history.start is not None else type(original)(original.id)
        assert not rebuilt.pending(), f"{history.name}: the replay must start from a saved state"
        expected_version = rebuilt.version + len(history.events)
        assert original.version + len(original.pending()) == expected_version, f"{history.name}: not its stream"
        rebuilt.replay(events)
        ignored = self.ignored.get(type(original), frozenset())
        assert state(rebuilt, ignored) == state(original, ignored), history.name
        assert rebuilt.version == expected_version and not rebuilt.pending(), history.name
        if history.expect is not None:  # asserts, or answers False when what it checks does not hold
            assert history.expect(rebuilt) is not False, f"{history.name}: not what the history is about"
        return rebuilt

    def test_every_aggregate_has_a_history_to_replay(self):
        histories = self.histories()
        assert {type(h.recorded) for h in histories} == set(self.aggregates)
        assert all(h.events for h in histories), [h.name for h in histories if not h.events]

    def test_replaying_a_stream_rebuilds_the_same_state(self):
        for history in self.histories():
            self._replayed(history, list(history.events))

    def test_replaying_the_stored_payloads_rebuilds_the_same_state(self):
        for history in self.histories():
            self._replayed(history, stored(history.events))

    def test_every_event_type_an_aggregate_refers_to_is_handled_by_its_apply(self):
        unhandled = {cls.__name__: sorted(e.__name__ for e in referred(cls) - handled(cls)) for cls in self.aggregates}
        unhandled = {k: v for k, v in unhandled.items() if v}
        assert unhandled == {}, f"named in the aggregate but not applied: {unhandled}"
        for history in self.histories():
            recorded = {type(e) for e in history.events}
            assert recorded <= handled(type(history.recorded)), history.name

    def test_an_event_the_aggregate_does_not_know_is_a_type_error_not_silently_dropped(self):
        ids = {type(h.recorded): h.recorded.id for h in self.histories()}  # an id the aggregate accepts
        for cls in self.aggregates:
            known = handled(cls)
            stranger = next(t for t in EVENT_TYPES.all().values() if t not in known)
            aggregate = cls(ids[cls])
            with pytest.raises(TypeError, match=stranger.__name__):
                aggregate.apply(stranger.model_construct())
                pytest.fail(f"{cls.__name__}.apply dropped a {stranger.__name__} without a word")
