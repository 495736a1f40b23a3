"""The reason a dead letter carries names the kind of failure, never a value the handler held."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

from harbour.errors import RuleViolation
from harbour.kafka.consumer import describe

NAME = "Ilvaneth Quorrimaa"


def test_an_exception_quoting_a_value_gives_only_its_kind() -> None:
    for error in (KeyError(NAME), ValueError(f"bad name {NAME}"), RuntimeError(NAME)):
        reason = describe(error)
        assert NAME not in reason and reason == type(error).__name__


def test_a_refusal_of_the_domain_gives_its_title_and_field_not_its_detail() -> None:
    reason = describe(RuleViolation(f"{NAME} is already admitted", field="person"))
    assert NAME not in reason
    assert reason == f"RuleViolation: {RuleViolation.title} (field person)"


def test_a_validation_error_gives_the_fields_and_kinds_without_the_input() -> None:
    class Contract(BaseModel):
        model_config = ConfigDict(extra="forbid")
        age: int

    try:
        Contract.model_validate({"age": NAME})
    except ValidationError as error:
        reason = describe(error)
    assert NAME not in reason and reason == "age: int_parsing"
