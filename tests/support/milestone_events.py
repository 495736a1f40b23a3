"""Hypothesis strategies for the events the milestone policy maps, and for what a case's facts may be.

Every field is generated from the contract's own type (code lists, dates, flags), with valid reference
numbers and ids where a string is constrained. Values that must never reach a milestone (shelter and bed
ids, sealed addresses) carry the marker ``SECRET`` so a test can search every byte published for it.
"""

from __future__ import annotations

import json
import types
import typing
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any
from uuid import uuid4

from hypothesis import strategies as st

import schemas.housing
import schemas.intake
import schemas.legal
import schemas.tracks
from harbour.events import EVENT_TYPES, DomainEvent
from harbour.pii import Sealed
from harbour.store import Actor, RecordedEvent
from schemas.audiences import CENTRES, PROSECUTION_OFFICES
from schemas.milestones import POLICY, CaseFacts

_CONTRACTS = (schemas.housing, schemas.intake, schemas.legal, schemas.tracks)
SECRET = "SECRET"
ZONES = ("police-antwerp", "police-liege")

# Strings whose contract constrains them, by field name.
_STRINGS: dict[str, st.SearchStrategy[str]] = {
    "office": st.sampled_from(PROSECUTION_OFFICES),
    "file_number": st.sampled_from(["AN.55.L1.012345/2026", "BR.12.F3/26"]),
    "report_number": st.sampled_from(["PV 2026/0042", "AN.12.L1.004567/26"]),
    "referrer_file_number": st.sampled_from(["AN.12.L1.004567/26"]),
    "postcode": st.sampled_from(["1000", "2000", "4000", "9000"]),
    "unit": st.sampled_from(["police-federal", "police-antwerp", "inspection-social"]),
    "court": st.sampled_from(["criminal-court-antwerp", "court-of-appeal-brussels"]),
    "defendant": st.sampled_from(["defendant-1", "defendant-2"]),
    "shelter_id": st.just(f"shelter-{SECRET}"),
    "bed_id": st.just(f"bed-{SECRET}"),
}
_SEALED = Sealed(person_id="person-1", key_version=1, nonce="bm9uY2U=", ciphertext=f"{SECRET}-address")
_SCREENING = schemas.intake.ScreeningSummary(
    catalogue_version="v1", counts={}, signal_count=2, recommendation=schemas.intake.Recommendation.TAKE_IN
)


def _for(name: str, annotation: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        inner = st.one_of(*(_for(name, a) for a in options))
        return st.one_of(st.none(), inner) if type(None) in args else inner
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin is typing.Annotated:
        return _for(name, args[0])
    if origin is tuple:
        return st.lists(_for(name, args[0]), min_size=1, max_size=3).map(tuple)
    if origin is frozenset:
        return st.just(frozenset())
    if annotation is Sealed:
        return st.just(_SEALED)
    if annotation is schemas.intake.ScreeningSummary:
        return st.just(_SCREENING)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return st.sampled_from(list(annotation))
    if isinstance(annotation, type) and issubclass(annotation, DomainEvent | schemas.legal.DefendantVerdict):
        return model(annotation)
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers(min_value=1, max_value=9)
    if annotation is datetime:
        return st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))
    if annotation is date:
        return st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 1, 1))
    if annotation is str:
        return _STRINGS.get(name, st.sampled_from(["case-1", "ref-2", "x-3"]))
    raise TypeError(f"no strategy for {name}: {annotation!r}")


def model(cls: type) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {name: _for(name, hints[name]) for name in cls.model_fields}  # type: ignore[attr-defined]
    return st.fixed_dictionaries(fields).map(lambda kw: cls(**kw))


def _source_types() -> list[type[DomainEvent]]:
    names = sorted({s.event_type for rule in POLICY for s in rule.sources})
    return [EVENT_TYPES.cls_for(n) for n in names]


# Any event a source maps, plus an event no rule maps (which must give nothing).
policy_events = st.one_of(
    *(model(cls) for cls in _source_types()), model(schemas.legal.AppealLodged), model(schemas.housing.PlacementExited)
)

case_facts = st.builds(
    CaseFacts,
    owning_centre=st.sampled_from(CENTRES),
    referring_org=st.sampled_from(
        ["police-federal", *ZONES, "police-unconfigured", "inspection-labour", "ngo-outreach", "hospital-stuivenberg"]
    ),
    referrer_file_number=st.one_of(st.none(), st.just("AN.12.L1.004567/26")),
    prosecution_office=st.one_of(st.none(), st.sampled_from(PROSECUTION_OFFICES)),
    prosecution_file_number=st.one_of(st.none(), st.just("AN.55.L1.012345/2026")),
    minor=st.booleans(),
    immigration_involved=st.booleans(),
)


def recorded(event: DomainEvent, case_key: str) -> RecordedEvent:
    now = datetime.now(UTC)
    return RecordedEvent(
        event_id=uuid4(), stream_id=f"s-{case_key}", stream_type="s", stream_version=1, global_position=1, tx_id=1,
        event_type=event.event_type, schema_version=event.schema_version,
        payload=json.loads(event.model_dump_json()), case_id=case_key, jurisdiction="BE", occurred_at=now,
        recorded_at=now, actor=Actor("centre-payoke", "caseworker", "u"), correlation_id=None, causation_id=None,
        traceparent=None,
    )  # fmt: skip


class FactsConn:
    """Stands in for a connection whose ``case_audiences`` holds one row (or none)."""

    def __init__(self, case_key: str, root_id: str | None, facts: CaseFacts | None) -> None:
        self.case_key, self.root_id, self.facts = case_key, root_id, facts

    async def fetchrow(self, sql: str, case_key: str) -> dict[str, Any] | None:
        if self.facts is None or case_key != self.case_key:
            return None
        # No custody periods in this stand-in: the owning centre is the case_audiences row's (``holder`` None).
        return {"root_id": self.root_id, "holder": None, **self.facts.__dict__}
