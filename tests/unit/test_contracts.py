"""The published contracts are exported, committed and guarded: a breaking change fails `harbour schemas check`."""

from __future__ import annotations

import json
import shutil
from enum import StrEnum

from pydantic import BaseModel

from harbour_tools import contracts


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


class Before(BaseModel):
    case_id: str
    count: int | str
    colour: Colour
    note: str | None = None


class WithExtra(Before):
    extra: int | None = None


class WithoutCaseId(BaseModel):
    count: int | str
    colour: Colour
    note: str | None = None


class NarrowCount(Before):
    count: int


class RequiredNote(Before):
    note: str


Fewer = StrEnum("Fewer", {"RED": "red"})


class FewerColours(Before):
    colour: Fewer


def reasons(new: dict) -> list[str]:
    return [b.reason for b in contracts.compare("X.v1.json", Before.model_json_schema(), new)]


def test_the_committed_contracts_have_no_breaking_change_and_are_up_to_date():
    assert contracts.check() == []
    assert contracts.stale() == []


def test_an_added_optional_field_is_not_a_breaking_change():
    assert reasons(WithExtra.model_json_schema()) == []
    assert reasons(Before.model_json_schema()) == []


def test_a_removed_or_renamed_field_is_a_breaking_change():
    assert any("case_id: field removed" in r for r in reasons(WithoutCaseId.model_json_schema()))


def test_a_narrowed_type_is_a_breaking_change():
    assert any("count: type changed" in r for r in reasons(NarrowCount.model_json_schema()))


def test_an_optional_field_made_required_is_a_breaking_change():
    assert any("note: optional or new field made required" in r for r in reasons(RequiredNote.model_json_schema()))


def test_a_removed_enum_value_is_a_breaking_change():
    assert any("enum values removed ['blue']" in r for r in reasons(FewerColours.model_json_schema()))


def test_a_changed_topic_key_or_a_removed_contract_fails_the_check(tmp_path):
    root = tmp_path / "schemas"
    shutil.copytree(contracts.SCHEMAS_DIR / "jsonschema", root / "jsonschema")
    lock = json.loads((contracts.SCHEMAS_DIR / "contracts.lock.json").read_text())
    lock["topics"]["intake.events.v1"]["key"] = "referral id"
    (root / "contracts.lock.json").write_text(json.dumps(lock))
    (root / "jsonschema" / "Retired.v1.json").write_text(json.dumps({"type": "object", "properties": {}}))
    found = {str(b) for b in contracts.check(root)}
    assert "intake.events.v1: key changed from 'referral id' to 'case id'" in found
    assert "Retired.v1.json: contract removed" in found
